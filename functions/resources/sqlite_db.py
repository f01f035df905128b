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
from typing import TypeVar

from functions.resources.sqlite_signal import Pending, signal_for

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
T = TypeVar("T")


class Database:
    """One SQLite file: a connection per thread, serialized writes, a change signal."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.path.realpath(os.fspath(path))
        if os.path.dirname(self.path):
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._signal = signal_for(self.path)
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
        pending = Pending(work)
        self._signal.submit(pending, self._commit)
        if pending.error is not None:
            raise pending.error
        result: T = pending.result
        return result

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

    def _commit(self, batch: list[Pending]) -> None:
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
        self._signal.notify()

    def writes_seen(self, interest: frozenset[tuple[str, str]] | None = None) -> int:
        """A counter of this process's commits (of ``interest`` only), to wait for the next."""
        return self._signal.writes_seen(interest)

    def wait_for_write(
        self, seen: int, timeout: float, interest: frozenset[tuple[str, str]] | None = None
    ) -> None:
        """Sleep until a commit after ``seen`` (of ``interest``) in this process, or ``timeout``."""
        self._signal.wait_for_write(seen, timeout, interest)

    def close(self) -> None:
        """Close every connection this Database opened."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        with self._pool_lock:
            self._pool = []
