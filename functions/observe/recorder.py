"""Recording run Events off the transition's path, deduplicated like client-go's recorder.

``EventRecorder.record`` queues an occurrence and returns; a background thread hands
batches to the backend (SQLite table or core/v1 Events), so a transition never waits on
an Event and never fails because of one (client-go drops Events under pressure too).
The same run, type, reason and message seen again is the same Event with ``count`` + 1
and a new ``lastTimestamp``, not a new object.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from functions.observe.run_events import RunEvent
from functions.ports import Resource

__all__ = ["EventBackend", "EventRecorder", "Occurrence", "RecordedEvent"]

log = logging.getLogger("baton.events")
_MAX_QUEUE: Final = 10_000
_IDLE_EXIT: Final = 5  # seconds without an event before the writer thread ends


@dataclass(frozen=True)
class Occurrence:
    """One time an Event happened to a run."""

    namespace: str
    name: str
    uid: str
    event: RunEvent
    at: float
    component: str


@dataclass(frozen=True)
class RecordedEvent:
    """An Event as stored: deduplicated, with its count and first/last times."""

    namespace: str
    name: str
    type: str
    reason: str
    message: str
    count: int
    first: float
    last: float
    component: str


class EventBackend(Protocol):
    """Where Events live: ``write`` upserts a batch (in order), ``read`` lists a run's."""

    def write(self, batch: Sequence[Occurrence]) -> None: ...

    def read(self, namespace: str, name: str, uid: str = "") -> list[RecordedEvent]: ...


class EventRecorder:
    """Queues occurrences and writes them in batches from one thread."""

    FLUSH_SECONDS: Final = 0.01

    def __init__(self, backend: EventBackend, component: str = "baton") -> None:
        self.backend = backend
        self.component = component
        self._pending: list[Occurrence] = []
        self._wake = threading.Condition()
        self._write_lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._exit_hook = False

    def record(self, run: Resource, event: RunEvent, component: str | None = None) -> None:
        """Queue ``event`` about ``run``."""
        meta = run.get("metadata") or {}
        occurrence = Occurrence(
            str(meta.get("namespace") or "default"),
            str(meta.get("name") or ""),
            str(meta.get("uid") or ""),
            event,
            time.time(),
            component or self.component,
        )
        with self._wake:
            if len(self._pending) >= _MAX_QUEUE:
                return  # the backend is stuck: drop, as client-go's broadcaster does
            self._pending.append(occurrence)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._loop, name="baton-run-events", daemon=True
                )
                self._thread.start()
                if not self._exit_hook:
                    atexit.register(self.close)
                    self._exit_hook = True
            self._wake.notify()

    def flush(self) -> None:
        """Write everything queued so far."""
        with self._write_lock:
            with self._wake:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                self.backend.write(batch)
            except Exception as exc:  # an Event must never take a transition down
                log.warning("could not record %d run events: %s", len(batch), exc)

    def read(self, namespace: str, name: str, uid: str = "") -> list[RecordedEvent]:
        """The run's Events (this process's queue flushed first)."""
        self.flush()
        return self.backend.read(namespace, name, uid)

    def close(self) -> None:
        """Flush and stop the thread (safe to call twice)."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        if self._exit_hook:
            atexit.unregister(self.close)
            self._exit_hook = False
        self.flush()

    def _loop(self) -> None:
        idle = 0
        while True:
            with self._wake:
                if not self._pending and not self._closed:
                    self._wake.wait(1.0)
                if self._closed:
                    return
                if not self._pending:
                    idle += 1
                    if idle >= _IDLE_EXIT:  # a quiet recorder keeps no thread; record restarts it
                        self._thread = None
                        return
                    continue
            idle = 0
            time.sleep(self.FLUSH_SECONDS)  # a burst of events shares one write
            self.flush()
