"""The run's chain of CloudEvents, kept in order beside the SQLite store.

``baton events NAME`` reads it; the embedded runtime and the NATS workers write
it (each emitted event once, whoever emits it).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from functions.resources.shared_sqlite import connect_shared

__all__ = ["EventLog", "LoggedEvent", "run_key_of"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS run_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run TEXT NOT NULL,
  uid TEXT NOT NULL DEFAULT '',
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  step INTEGER,
  source TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  time REAL,
  UNIQUE(source, id)
);
CREATE INDEX IF NOT EXISTS run_events_run ON run_events(run, uid, seq);
CREATE INDEX IF NOT EXISTS run_events_uid ON run_events(uid);
DROP TABLE IF EXISTS event_log;
"""
# Rows of runs that are gone (deleted by a user, cleanup or history limits) go with them.
_PRUNE = """
DELETE FROM run_events WHERE uid != '' AND uid NOT IN (SELECT uid FROM objects)
"""
PRUNE_SECONDS = 60.0


@dataclass(frozen=True)
class LoggedEvent:
    """One recorded event."""

    seq: int
    run: str
    uid: str
    type: str
    id: str
    step: int | None
    source: str
    detail: str
    time: float | None = None  # when the event was made (its CloudEvents ``time``), epoch s


def detail_of(event: BaseCloudEvent) -> str:
    """A short human summary of what the event says (tool name, reason, phase)."""
    data = event.get_data()
    if not isinstance(data, dict):
        return ""
    if "toolCall" in data:
        call = data["toolCall"]
        args = json.dumps(call.get("input") or {}, separators=(",", ":"))
        return f"{call.get('name')}({args[:60]})"
    if "phase" in data and "run" in data:
        usage = data.get("tokenUsage") or {}
        return f"{data['phase']}, {usage.get('total', 0)} tokens"
    if event.get_type().endswith("tool.completed") and data.get("toolCallId"):
        return f"call {str(data['toolCallId'])[:40]} closed"
    if data.get("reason"):
        return f"{data['reason']}: {str(data.get('message', ''))[:80]}"
    if event.get_type().endswith("run.completed"):
        return "final answer"
    return ""


def _time_of(event: BaseCloudEvent) -> float:
    made = event.get_time()
    return made.timestamp() if made is not None else time.time()


def run_uid_of(event: BaseCloudEvent) -> str:
    """The uid of the run an event is about ('' when the event does not say)."""
    data = event.get_data()
    if isinstance(data, dict):
        run = data.get("run")
        if isinstance(run, dict):
            return str(run.get("uid") or "")
        meta = data.get("metadata")
        if isinstance(meta, dict):
            return str(meta.get("uid") or "")
    return ""


def run_key_of(event: BaseCloudEvent) -> str | None:
    """``namespace/name`` of the run an event is about, or None."""
    key = event.get_extension("batonrun")
    if key:
        return str(key)
    if event.get_extension("kind") == "AgentRun" and event.get_extension("name"):
        return f"{event.get_extension('namespace') or 'default'}/{event.get_extension('name')}"
    return None


class EventLog:
    """Append-only log of run events in a SQLite file (WAL, shared by processes).

    Rows are written in batches by one background thread, a few milliseconds after
    ``record``: a commit per event would cost more than the transition that emitted
    it. ``read`` in the same process flushes first, so it always sees its own events.
    """

    FLUSH_SECONDS = 0.005

    def __init__(self, path: str) -> None:
        self._conn = connect_shared(path, _SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(run_events)")}
        if "time" not in columns:  # a log written before events kept their time
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                self._conn.execute("ALTER TABLE run_events ADD COLUMN time REAL")
        self._db_lock = threading.Lock()
        self._pending: list[tuple[Any, ...]] = []
        self._wake = threading.Condition()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="baton-eventlog", daemon=True)
        self._writer.start()
        atexit.register(self.close)

    def record(self, event: BaseCloudEvent) -> None:
        """Keep ``event`` if it is about a run (a repeated id is kept once)."""
        run = run_key_of(event)
        if run is None:
            return
        step = event.get_extension("batonstep")
        row = (
            run,
            run_uid_of(event),
            event.get_type(),
            event.get_id(),
            int(step) if step is not None else None,
            event.get_source(),
            detail_of(event),
            _time_of(event),
        )
        with self._wake:
            self._pending.append(row)
            self._wake.notify()

    def flush(self) -> None:
        """Write what was recorded so far (rows the writer thread took are committed too)."""
        with self._db_lock:  # taken before the rows: a flush returns after the writer's commit
            with self._wake:
                rows, self._pending = self._pending, []
            if not rows:
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT OR IGNORE INTO run_events(run, uid, type, id, step, source, detail, time)"
                " VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
            self._conn.execute("COMMIT")

    def _write_loop(self) -> None:
        pruned = time.monotonic()
        while not self._closed:
            with self._wake:
                if not self._pending:
                    self._wake.wait(1.0)
            time.sleep(self.FLUSH_SECONDS)  # let a burst of events share one commit
            self.flush()
            if time.monotonic() - pruned > PRUNE_SECONDS:
                pruned = time.monotonic()
                self.prune()

    def prune(self) -> int:
        """Drop the rows of runs no longer in the store (same file); how many went."""
        with self._db_lock:
            try:
                return int(self._conn.execute(_PRUNE).rowcount)
            except sqlite3.OperationalError:  # a log without a store beside it
                return 0

    def close(self) -> None:
        """Flush and stop the writer (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        with self._wake:
            self._wake.notify()
        self._writer.join(timeout=2)
        self.flush()

    def read(self, run: str, after: int = 0, *, uid: str | None = None) -> list[LoggedEvent]:
        """Events of ``run`` (``namespace/name``) after ``after``; of one incarnation with ``uid``.

        A run deleted and created again under its name has another uid: pass the one
        in the store, or its predecessor's events mix in.
        """
        self.flush()
        query = (
            "SELECT seq, run, uid, type, id, step, source, detail, time FROM run_events"
            " WHERE run=? AND seq>?"
        )
        args: tuple[Any, ...] = (run, after)
        if uid is not None:
            query += " AND uid=?"
            args = (*args, uid)
        with self._db_lock:
            rows = self._conn.execute(query + " ORDER BY seq", args).fetchall()
        return [LoggedEvent(*row) for row in rows]

    def forget(self, run: str) -> None:
        """Drop the log of a deleted run."""
        self.flush()
        with self._db_lock:
            self._conn.execute("DELETE FROM run_events WHERE run=?", (run,))
