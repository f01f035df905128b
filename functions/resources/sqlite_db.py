"""The SQLite file behind SqliteStore: tables, pragmas, per-thread connections.

Several processes may share one database file (WAL mode lets readers run beside
the one writer). Inside a process, writers queue instead of spinning in SQLite's
busy handler, and share commits: one writer at a time leads, running every queued
write in one transaction (a savepoint each, so one write's Conflict undoes only
that write) and committing once, then wakes each writer whose write it carried
(and hands the lead to the next one waiting). A commit is most of a write's cost,
so under concurrency this multiplies write throughput; a lone writer pays nothing
extra. A commit wakes only the watches of this process that follow what it changed.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["SCHEMA", "Database"]

# A change row holds the object as written at that resourceVersion (its rowid);
# ``objects`` points each live object at its newest change, so a write stores the
# body once. Bodies omit metadata.resourceVersion: readers put the rv back in.
SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    rv INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    rv INTEGER NOT NULL,
    UNIQUE (kind, namespace, name)
);
CREATE UNIQUE INDEX IF NOT EXISTS objects_uid ON objects (uid);
-- No index on objects.rv: it would cost every write a page or two; only the
-- occasional trim of the change log needs it, and builds it on the fly.
DROP INDEX IF EXISTS objects_rv;
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY,
    run_uid TEXT NOT NULL,
    key TEXT NOT NULL,
    entry TEXT NOT NULL,
    UNIQUE (run_uid, key)
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('compacted', 0);
"""

_BUSY_TIMEOUT_MS = 10_000
_FIRST_RETRY_S = 0.00005
_LAST_RETRY_S = 0.002
_MMAP_BYTES = 256 * 1024 * 1024
_MAX_BATCH = 128
T = TypeVar("T")


@dataclass
class _Pending:
    """One queued write and, once committed (or refused), its outcome."""

    work: Callable[[sqlite3.Connection], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    # Set when the write is done, or when its writer is to lead the next batch.
    wake: threading.Event = field(default_factory=threading.Event)


@dataclass(eq=False)
class _Waiter:
    """A watch asleep until a commit changes what it follows (``None``: anything)."""

    interest: frozenset[tuple[str, str]] | None
    wake: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Signal:
    """Process-wide write queue, write lock and change signal for one database file."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    queue: list[_Pending] = field(default_factory=list)
    queue_lock: threading.Lock = field(default_factory=threading.Lock)
    leading: bool = False  # a writer is committing batches (under queue_lock)
    changed: threading.Lock = field(default_factory=threading.Lock)
    waiters: set[_Waiter] = field(default_factory=set)
    writes: int = 0
    # Commits per (kind, change type), so a watch wakes only for what it follows: an
    # AgentRun ADDED watch sleeps through status writes, journal entries, other kinds.
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    noted: set[tuple[str, str]] = field(default_factory=set)  # in the open transaction


_SIGNALS: dict[str, _Signal] = {}
_SIGNALS_LOCK = threading.Lock()


def _signal_for(path: str) -> _Signal:
    # Two stores on one file in one process share a lock and wake each other.
    with _SIGNALS_LOCK:
        return _SIGNALS.setdefault(path, _Signal())


class Database:
    """One SQLite file: a connection per thread, serialized writes, a change signal."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.path.realpath(os.fspath(path))
        if os.path.dirname(self.path):
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._signal = _signal_for(self.path)
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        # The one connection that writes, used only under the write lock. It does
        # not wait in SQLite's busy handler (which sleeps 1, 2, 5, 10... ms between
        # tries): _begin retries sooner when another process holds the lock.
        with self._signal.lock, self.conn() as conn:
            # Through a patient connection: another process may be writing right now.
            conn.executescript(SCHEMA)
        self._writer = self._connect(busy_timeout_ms=0)

    def _connect(self, busy_timeout_ms: int) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=busy_timeout_ms / 1000,
            isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
            check_same_thread=False,  # the writer moves between threads; close() too
            cached_statements=256,
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        conn.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def conn(self) -> Iterator[sqlite3.Connection]:
        """A reading connection from the pool, returned after use.

        Pooled, not per thread: a runtime with a thousand threads blocked in model
        calls would otherwise hold a thousand connections and their page caches.
        """
        with self._pool_lock:
            conn = self._pool.pop() if self._pool else None
        if conn is None:
            conn = self._connect(busy_timeout_ms=_BUSY_TIMEOUT_MS)
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            with self._pool_lock:
                self._pool.append(conn)

    def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` in a write transaction and return its result once committed.

        An exception from ``work`` undoes only its own changes and is raised here.
        """
        pending = _Pending(work)
        signal = self._signal
        with signal.queue_lock:
            signal.queue.append(pending)
            lead, signal.leading = not signal.leading, True
        if not lead:
            pending.wake.wait()  # done by the leader, or handed the lead
        if not pending.done:
            self._lead(pending)
        if pending.error is not None:
            raise pending.error
        result: T = pending.result
        return result

    def _lead(self, own: _Pending) -> None:
        """Commit queued batches until ``own`` is in one; then hand the lead on."""
        signal = self._signal
        try:
            while not own.done:
                with signal.queue_lock:
                    batch = signal.queue[:_MAX_BATCH]
                    del signal.queue[:_MAX_BATCH]
                with signal.lock:
                    self._commit(batch)
                for pending in batch:
                    if pending is not own:
                        pending.wake.set()
        finally:
            with signal.queue_lock:
                if signal.queue:
                    signal.queue[0].wake.set()  # not done: its writer wakes to lead
                else:
                    signal.leading = False

    def _begin(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
        delay = _FIRST_RETRY_S
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                busy = "locked" in str(error) or "busy" in str(error)
                if not busy or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, _LAST_RETRY_S)

    def _commit(self, batch: list[_Pending]) -> None:
        conn = self._writer
        alone = len(batch) == 1
        committed = False
        try:
            self._begin(conn)
            for pending in batch:
                if not alone:
                    conn.execute("SAVEPOINT write")
                try:
                    pending.result = pending.work(conn)
                except Exception as error:  # raised again in the writer's own thread
                    pending.error = error
                    conn.execute("ROLLBACK" if alone else "ROLLBACK TO write")
                if not alone:
                    conn.execute("RELEASE write")
            if conn.in_transaction:
                conn.execute("COMMIT")
            committed = True
        except BaseException as error:
            # The transaction itself failed (disk full, busy past the timeout, ...):
            # none of the batch landed, so every writer in it gets the error.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for pending in batch:
                pending.error = pending.error or error
        finally:
            for pending in batch:
                pending.done = True
        if committed:
            self.notify()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for a one-statement read: the writer's when it is free.

        The writer's page cache stays warm across this process's writes, while any
        other connection must drop its cache after each one (SQLite cannot tell
        which pages changed); reading there makes a get after a write ~2x cheaper.
        When a write is in progress, read beside it on this thread's own connection.
        """
        lock = self._signal.lock
        if lock.acquire(blocking=False):
            try:
                yield self._writer
            finally:
                lock.release()
        else:
            with self.conn() as conn:
                yield conn

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same committed state."""
        with self.conn() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def note_change(self, kind: str, change: str) -> None:
        """Inside a write: it changes a ``kind`` object (``ADDED``/``MODIFIED``/``DELETED``)."""
        self._signal.noted.add((kind, change))

    def notify(self) -> None:
        """Wake the watches of this process that follow what was just committed."""
        signal = self._signal
        with signal.changed:
            signal.writes += 1
            noted = signal.noted
            for key in noted:
                signal.counts[key] = signal.counts.get(key, 0) + 1
            if noted:
                for waiter in signal.waiters:
                    if waiter.interest is None or not waiter.interest.isdisjoint(noted):
                        waiter.wake.set()
            signal.noted = set()

    def writes_seen(self, interest: frozenset[tuple[str, str]] | None = None) -> int:
        """A counter of this process's commits (of ``interest`` only), to wait for the next."""
        signal = self._signal
        if interest is None:
            return signal.writes
        return sum(signal.counts.get(key, 0) for key in interest)

    def wait_for_write(
        self, seen: int, timeout: float, interest: frozenset[tuple[str, str]] | None = None
    ) -> None:
        """Sleep until a commit after ``seen`` (of ``interest``) in this process, or ``timeout``."""
        signal = self._signal
        waiter = _Waiter(interest)
        with signal.changed:
            if self.writes_seen(interest) != seen:
                return
            signal.waiters.add(waiter)
        try:
            waiter.wake.wait(timeout)
        finally:
            with signal.changed:
                signal.waiters.discard(waiter)

    def close(self) -> None:
        """Close every connection this Database opened."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        with self._pool_lock:
            self._pool = []
