"""The embedded server's inbox: an accepted event is durable before it is acknowledged.

``baton serve`` answers 202 only once the event is in this table (SQLite, WAL, in
the store's file): a process killed right after the answer loses nothing, because
the next start publishes again every event accepted in the last ``REPLAY_SECONDS``.
A replay is harmless: route converges a request on one run, and every transition
decides on the run's record. Knative's shape needs no inbox: the broker holds an
event until a function answered 2xx.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Final

from cloudevents.core.base import BaseCloudEvent

from events.codecs.http import from_http, to_structured
from events.envelope import CloudEvent

__all__ = ["REPLAY_SECONDS", "Inbox"]

# Longer than any restart takes; older accepted events have long been handled.
REPLAY_SECONDS: Final = 600.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  source TEXT NOT NULL,
  id TEXT NOT NULL,
  received REAL NOT NULL,
  headers TEXT NOT NULL,
  body BLOB NOT NULL,
  UNIQUE(source, id)
);
CREATE INDEX IF NOT EXISTS inbox_received ON inbox(received);
"""


class Inbox:
    """Accepted events, kept for ``REPLAY_SECONDS`` in a SQLite file."""

    def __init__(self, path: str, clock: Callable[[], float] = time.time) -> None:
        self._conn = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._clock = clock

    def accept(self, event: BaseCloudEvent) -> bool:
        """Store ``event`` durably; False when the same source and id were accepted before."""
        message = to_structured(event)
        headers = "\n".join(f"{k}:{v}" for k, v in message.headers.items())
        now = self._clock()
        with self._lock:
            added = self._conn.execute(
                "INSERT OR IGNORE INTO inbox(source, id, received, headers, body)"
                " VALUES (?,?,?,?,?)",
                (event.get_source(), event.get_id(), now, headers, message.body),
            ).rowcount
            self._conn.execute("DELETE FROM inbox WHERE received < ?", (now - REPLAY_SECONDS,))
        return bool(added)

    def recent(self) -> list[BaseCloudEvent]:
        """Every event accepted in the last ``REPLAY_SECONDS``, oldest first."""
        since = self._clock() - REPLAY_SECONDS
        with self._lock:
            rows = self._conn.execute(
                "SELECT headers, body FROM inbox WHERE received >= ? ORDER BY seq", (since,)
            ).fetchall()
        events = []
        for headers, body in rows:
            pairs = dict(line.split(":", 1) for line in str(headers).splitlines() if ":" in line)
            events.append(from_http(pairs, bytes(body)))
        return events

    def replay(self, publish: Callable[[CloudEvent], None]) -> int:
        """Publish the recent events again (after a restart); how many."""
        events = self.recent()
        for event in events:
            publish(event)  # type: ignore[arg-type]
        return len(events)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()
