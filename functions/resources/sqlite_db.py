"""The SQLite file behind SqliteStore: tables, pragmas, per-thread connections.

Several processes may share one database file (WAL mode lets readers run beside
the one writer). Inside a process, writers queue instead of spinning in SQLite's
busy handler, and share commits: whoever gets the write lock runs every queued
write in one transaction (a savepoint each, so one write's Conflict undoes only
that write) and commits once. A commit is most of a write's cost, so under
concurrency this multiplies write throughput; a lone writer pays nothing extra.
A condition wakes this process's watches as soon as a commit lands.
"""

from __future__ import annotations

import os
import sqlite3
import threading
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
_MAX_BATCH = 128
T = TypeVar("T")


@dataclass
class _Pending:
    """One queued write and, once committed (or refused), its outcome."""

    work: Callable[[sqlite3.Connection], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass
class _Signal:
    """Process-wide write queue, write lock and change signal for one database file."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    queue: list[_Pending] = field(default_factory=list)
    queue_lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(default_factory=threading.Condition)
    writes: int = 0


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
        self._local = threading.local()
        self._signal = _signal_for(self.path)
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        with self._signal.lock:
            self.conn().executescript(SCHEMA)

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                check_same_thread=False,  # close() runs on another thread
                cached_statements=256,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=OFF")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` in a write transaction and return its result once committed.

        An exception from ``work`` undoes only its own changes and is raised here.
        """
        pending = _Pending(work)
        signal = self._signal
        with signal.queue_lock:
            signal.queue.append(pending)
        while not pending.done:
            with signal.lock:
                if pending.done:
                    break  # a writer before us committed ours with its own
                with signal.queue_lock:
                    batch = signal.queue[:_MAX_BATCH]
                    del signal.queue[:_MAX_BATCH]
                self._commit(batch)
        if pending.error is not None:
            raise pending.error
        result: T = pending.result
        return result

    def _commit(self, batch: list[_Pending]) -> None:
        conn = self.conn()
        alone = len(batch) == 1
        committed = False
        try:
            conn.execute("BEGIN IMMEDIATE")
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
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same committed state."""
        conn = self.conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def notify(self) -> None:
        """Wake this process's watches."""
        signal = self._signal
        with signal.changed:
            signal.writes += 1
            signal.changed.notify_all()

    def writes_seen(self) -> int:
        """A counter of this process's writes, to wait for the next one without missing it."""
        return self._signal.writes

    def wait_for_write(self, seen: int, timeout: float) -> None:
        """Sleep until a write after ``seen`` in this process, or ``timeout`` seconds."""
        signal = self._signal
        with signal.changed:
            if signal.writes == seen:
                signal.changed.wait(timeout)

    def close(self) -> None:
        """Close every connection this Database opened."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
