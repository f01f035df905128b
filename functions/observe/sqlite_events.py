"""Run Events in the embedded store's SQLite file (table ``kube_events``), for ``baton describe``.

Deduplication is the table's: the same run, type, reason, message and component is one
row whose ``count`` and ``last`` move, whichever process records it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence

from functions.observe.recorder import Occurrence, RecordedEvent
from functions.resources.shared_sqlite import connect_shared

__all__ = ["SqliteEvents"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kube_events (
  id INTEGER PRIMARY KEY,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  uid TEXT NOT NULL,
  type TEXT NOT NULL,
  reason TEXT NOT NULL,
  message TEXT NOT NULL,
  component TEXT NOT NULL,
  count INTEGER NOT NULL,
  first REAL NOT NULL,
  last REAL NOT NULL,
  UNIQUE (uid, type, reason, message, component)
);
CREATE INDEX IF NOT EXISTS kube_events_run ON kube_events (namespace, name, id);
"""
_UPSERT = (
    "INSERT INTO kube_events (namespace, name, uid, type, reason, message, component, count,"
    " first, last) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)"
    " ON CONFLICT (uid, type, reason, message, component)"
    " DO UPDATE SET count = count + 1, last = excluded.last"
)
_COLUMNS = "namespace, name, type, reason, message, count, first, last, component"
# The Events of runs that are gone (deleted, cleaned up, past the history limit) go too,
# as the run's own rows do; the API server's Event TTL plays this part on a cluster.
_PRUNE = "DELETE FROM kube_events WHERE uid NOT IN (SELECT uid FROM objects)"
PRUNE_SECONDS = 60.0


class SqliteEvents:
    """The EventBackend on a SQLite file (its own connection; WAL, shared by processes)."""

    def __init__(self, path: str) -> None:
        self._conn = connect_shared(path, _SCHEMA)
        self._lock = threading.Lock()
        self._pruned = time.monotonic()

    def write(self, batch: Sequence[Occurrence]) -> None:
        """Upsert the batch in one transaction."""
        rows = [
            (o.namespace, o.name, o.uid, o.event.type, o.event.reason, o.event.message[:1024],
             o.component, o.at, o.at)
            for o in batch
        ]  # fmt: skip
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(_UPSERT, rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        if time.monotonic() - self._pruned > PRUNE_SECONDS:
            self.prune()

    def prune(self) -> int:
        """Drop the Events of runs no longer in the store (same file); how many went."""
        self._pruned = time.monotonic()
        with self._lock:
            try:
                return int(self._conn.execute(_PRUNE).rowcount)
            except sqlite3.OperationalError:  # no objects table: a file without a store
                return 0

    def read(self, namespace: str, name: str, uid: str = "") -> list[RecordedEvent]:
        """The run's Events, oldest first (only the run with ``uid`` when given)."""
        sql = f"SELECT {_COLUMNS} FROM kube_events WHERE namespace = ? AND name = ?"
        args = [namespace, name]
        if uid:
            sql += " AND uid = ?"
            args.append(uid)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY first, id", args).fetchall()
        return [RecordedEvent(*row) for row in rows]

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
