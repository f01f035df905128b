"""The embedded shape: every function in one process, SQLite store, in-process bus.

A watch on the store turns AgentRun changes into ApiServerSource-shaped events
(as Knative would deliver them), a timer publishes ``dev.baton.tick`` for sweep,
and the in-process bus carries everything between the transitions.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from cloudevents.core.base import BaseCloudEvent

from events.buses.inprocess import InProcessBus
from events.delivery import RetryPolicy
from events.envelope import RunRef
from functions import chain
from functions.ports import Deps, Store
from functions.run.lease import release_all
from functions.run.status import KIND
from functions.runtime.deps import build_deps
from functions.runtime.eventlog import EventLog
from functions.runtime.gate import Gate, slots_for
from functions.runtime.inbox import Inbox
from functions.runtime.source import follow_runs, tick
from functions.runtime.triggers import TriggerFeeds

__all__ = ["DEFAULT_DB", "Embedded", "StoreTaken"]

DEFAULT_DB = ".baton/state.db"
log = logging.getLogger("baton.embedded")


class Embedded:
    """A running embedded deployment; use as a context manager."""

    def __init__(
        self,
        db_path: str = DEFAULT_DB,
        *,
        workers: int = 32,
        retry: RetryPolicy | None = None,
        sweep_interval: float = 1.0,
        deps: Deps | None = None,
        store: Store | None = None,
        offline_fallback: bool = False,
        record_events: bool = True,
        dedupe_window: int = 10_000,
        trigger_kubeconfig: str | None = None,
        run_slots: int | None = None,
    ) -> None:
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self.db_path = db_path
        if store is None:
            from functions.resources.sqlite import SqliteStore

            store = SqliteStore(db_path)
        self.store = store
        self.deps = deps or build_deps(store, offline_fallback=offline_fallback)
        self.events = EventLog(db_path) if record_events else None
        self.bus = InProcessBus(workers=workers, retry=retry, dedupe_window=dedupe_window)
        # ``workers`` threads wait on models and tools; ``run_slots`` of them run transitions.
        slots = run_slots or slots_for(store)
        gate = Gate(slots) if slots else None
        bound = gate.around_effects(self.deps) if gate else self.deps
        for sub in chain.subscriptions(bound, recorder=self.events):
            self.bus.subscribe(replace(sub, handler=gate.wrap(sub.handler)) if gate else sub)
        self.bus.on_dead_letter(chain.dead_letter_handler(self.deps, self.events))
        self._sweep_interval = sweep_interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watch_ready = threading.Event()
        self._inbox = Inbox(db_path)
        self._lock: IO[bytes] | None = None
        self.triggers = TriggerFeeds(self.deps, kubeconfig=trigger_kubeconfig)

    def __enter__(self) -> Embedded:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Take the store, start the watch and the sweep timer, publish what a crash left.

        This process is the store's only runtime (it holds the store's lock), so a claim
        found on a run was taken by a predecessor that died: it is dropped at once rather
        than left to lapse, and the watch's first list republishes what each run needs.
        """
        self._lock = _exclusive(self.db_path)
        for run in self.store.list(KIND):
            if (run.get("status") or {}).get("claims"):
                release_all(self.deps, RunRef.of(run))
        self._spawn(self._watch, "baton-watch")
        self._watch_ready.wait(5)
        self._inbox.replay(self.bus.publish)
        if self._sweep_interval > 0:
            self._spawn(self._tick, "baton-sweep")
        self.triggers.start()

    def accept(self, event: BaseCloudEvent) -> None:
        """Take an event from outside (``baton serve``): durable first, then published."""
        self._inbox.accept(event)
        self.bus.publish(event)  # type: ignore[arg-type]

    def stop(self) -> None:
        """Stop the watch and timer, then drain the bus."""
        self._stop.set()
        self.triggers.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self.bus.close()
        if self.events is not None:
            self.events.close()
        self._inbox.close()
        if self._lock is not None:
            self._lock.close()  # the lock goes with the file
            self._lock = None
        close = getattr(self.deps.tools, "close", None)
        if close is not None:
            close()

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _watch(self) -> None:
        """AgentRun changes -> ApiServerSource events (the embedded ApiServerSource)."""
        record = self.events.record if self.events is not None else None
        follow_runs(
            self.store, self.bus.publish, stop=self._stop, ready=self._watch_ready, record=record
        )

    def _tick(self) -> None:
        tick(
            self.bus.publish,
            interval=self._sweep_interval,
            stop=self._stop,
        )


class StoreTaken(RuntimeError):
    """Another embedded runtime (``baton serve``, ``baton run``) holds the store's lock."""


def _exclusive(db_path: str) -> IO[bytes]:
    """An exclusive lock on the store for this process, or a clear error naming the holder."""
    path = Path(f"{db_path}.lock")
    handle = path.open("a+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreTaken(
            f"another baton runtime serves {db_path} (lock {path}): one embedded server "
            "per database; stop the other one, or give this one --db"
        ) from None
    return handle
