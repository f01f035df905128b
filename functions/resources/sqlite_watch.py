"""Watch on SQLite: follow the change log after a resourceVersion.

Watches in the writing process wake at once (a condition notified on commit);
other processes' writes are found by polling the log every ``poll_interval``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection, Iterator

from functions.ports import Expired, Invalid, Resource, WatchEvent
from functions.resources.jsontext import dumps
from functions.resources.jsontext import loads as _loads
from functions.resources.sqlite_db import Database

__all__ = ["Watch", "compacted", "head", "log_change", "materialize", "parse_rv"]

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


class Watch(Iterator[WatchEvent]):
    """A watch's events; ``resource_version`` is where a new watch would carry on.

    After the watch ends (timeout) or fails, ``watch(kind, since=w.resource_version)``
    misses nothing, even when no event came (unlike a fresh watch from "now").
    """

    def __init__(
        self,
        db: Database,
        kind: str,
        namespace: str | None,
        cursor: int,
        *,
        initial: list[Resource],
        timeout: float | None,
        poll_interval: float,
        changes: Collection[str] | None = None,
    ) -> None:
        self.resource_version = str(cursor)
        self._changes = tuple(changes) if changes else ()
        self._events = self._follow(db, kind, namespace, cursor, initial, timeout, poll_interval)

    @classmethod
    def starting(
        cls,
        db: Database,
        kind: str,
        namespace: str | None,
        since: str | None,
        list_now: Callable[[sqlite3.Connection], list[Resource]],
        *,
        timeout: float | None,
        poll_interval: float,
        changes: Collection[str] | None = None,
    ) -> Watch:
        """Changes after resourceVersion ``since`` (None: from now; "0": ``list_now`` first).

        The starting point is taken now, not at the first next(): a caller that watches,
        then writes, then iterates must see its own write.
        """
        initial: list[Resource] = []
        if since in (None, "0", ""):
            with db.snapshot() as conn:
                cursor = head(conn)
                if since is not None:
                    initial = list_now(conn)
        else:
            cursor = parse_rv(since)
        return cls(
            db,
            kind,
            namespace,
            cursor,
            initial=initial,
            timeout=timeout,
            poll_interval=poll_interval,
            changes=changes,
        )

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> WatchEvent:
        return next(self._events)

    def _follow(
        self,
        db: Database,
        kind: str,
        namespace: str | None,
        cursor: int,
        initial: list[Resource],
        timeout: float | None,
        poll_interval: float,
    ) -> Iterator[WatchEvent]:
        for obj in initial:
            yield WatchEvent("ADDED", obj)
        interest = frozenset((kind, t) for t in (self._changes or ("ADDED", "MODIFIED", "DELETED")))
        sql = "SELECT rv, type, body FROM changes WHERE rv > ? AND kind = ?"
        if namespace:
            sql += " AND namespace = ?"
        if self._changes:
            # Filtered in SQL: skipped changes are never decoded.
            sql += f" AND type IN ({','.join('?' * len(self._changes))})"
        sql += f" ORDER BY rv LIMIT {_BATCH}"
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            seen = db.writes_seen(interest)
            args: tuple[int | str, ...] = (cursor, kind, namespace) if namespace else (cursor, kind)
            args += self._changes
            with db.snapshot() as conn:
                if compacted(conn) > cursor:
                    raise Expired(f"too old resource version: {cursor}")
                newest = head(conn)
                rows = conn.execute(sql, args).fetchall()
            for rv, change, body in rows:
                cursor = rv
                self.resource_version = str(rv)
                yield WatchEvent(change, materialize(rv, body))
            if rows:
                deadline = None if timeout is None else time.monotonic() + timeout
                if len(rows) == _BATCH:
                    continue
            # Everything up to ``newest`` was read: other kinds' changes are not scanned again.
            cursor = max(cursor, newest)
            self.resource_version = str(cursor)
            wait = poll_interval
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                wait = min(wait, left)
            db.wait_for_write(seen, wait, interest)


def log_change(
    conn: sqlite3.Connection, change: str, obj: Resource, *, keep: int, trim_every: int
) -> int:
    """Append ``obj`` to the change log; set and return its new resourceVersion.

    Every ``trim_every`` writes the log is cut to the last ``keep`` changes (each live
    object's newest stays), and a watch from before the cut gets ``Expired``.
    """
    meta = obj["metadata"]
    meta.pop("resourceVersion", None)  # the row id is the resourceVersion
    rv = conn.execute(
        "INSERT INTO changes (kind, namespace, type, body) VALUES (?, ?, ?, ?)",
        (obj["kind"], meta["namespace"], change, dumps(obj)),
    ).lastrowid
    assert rv is not None
    meta["resourceVersion"] = str(rv)
    if rv % trim_every == 0 and rv > keep:
        floor = rv - keep
        conn.execute(
            "DELETE FROM changes WHERE rv <= ? AND rv NOT IN (SELECT rv FROM objects)", (floor,)
        )
        conn.execute("UPDATE counters SET value = max(value, ?) WHERE name = 'compacted'", (floor,))
    return rv


def parse_rv(since: str) -> int:
    """A resourceVersion a watch starts after, as the API server would refuse a bad one."""
    try:
        return int(since)
    except ValueError:
        raise Invalid(f'invalid resource version "{since}"', field="resourceVersion") from None
