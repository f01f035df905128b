"""Watch on SQLite: follow the change log after a resourceVersion.

Watches in the writing process wake at once (a condition notified on commit);
other processes' writes are found by polling the log every ``poll_interval``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

from functions.ports import Resource, WatchEvent
from functions.resources.errors import Expired
from functions.resources.jsontext import loads as _loads
from functions.resources.sqlite_db import Database

__all__ = ["compacted", "follow", "head", "materialize"]

_BATCH = 256


def materialize(rv: int, body: str) -> Resource:
    """The stored body as an object, with its resourceVersion put back."""
    obj: Resource = _loads(body)
    obj["metadata"]["resourceVersion"] = str(rv)
    return obj


def head(conn: sqlite3.Connection) -> int:
    """The newest resourceVersion (0 for an empty store)."""
    row = conn.execute("SELECT max(rv) FROM changes").fetchone()
    return int(row[0] or 0)


def compacted(conn: sqlite3.Connection) -> int:
    """The newest resourceVersion trimmed from the change log."""
    row = conn.execute("SELECT value FROM counters WHERE name = 'compacted'").fetchone()
    return int(row[0])


def follow(
    db: Database,
    kind: str,
    namespace: str | None,
    cursor: int,
    *,
    timeout: float | None,
    poll_interval: float,
) -> Iterator[WatchEvent]:
    """Yield changes of ``kind`` after ``cursor`` until ``timeout`` seconds pass without one."""
    sql = "SELECT rv, type, body FROM changes WHERE rv > ? AND kind = ?"
    if namespace:
        sql += " AND namespace = ?"
    sql += f" ORDER BY rv LIMIT {_BATCH}"
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        seen = db.writes_seen()
        args = (cursor, kind, namespace) if namespace else (cursor, kind)
        with db.snapshot() as conn:
            if compacted(conn) > cursor:
                raise Expired(f"too old resource version: {cursor}")
            newest = head(conn)
            rows = conn.execute(sql, args).fetchall()
        for rv, change, body in rows:
            cursor = rv
            yield WatchEvent(change, materialize(rv, body))
        if rows:
            deadline = None if timeout is None else time.monotonic() + timeout
            if len(rows) == _BATCH:
                continue
        # Everything up to ``newest`` was read: other kinds' changes are not scanned again.
        cursor = max(cursor, newest)
        wait = poll_interval
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            wait = min(wait, left)
        db.wait_for_write(seen, wait)
