"""The store as an event source: AgentRun changes and sweep's timer, for every shape.

The embedded runtime and the NATS ``Source`` process both turn the store's watch
into ApiServerSource-shaped events (as Knative's ApiServerSource does on a
cluster) and publish ``dev.baton.tick`` for sweep; this is that loop, once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.apiserver import resource_event
from events.envelope import CloudEvent, make_event
from functions import chain
from functions.ports import Expired, Store

__all__ = ["follow_runs", "tick"]

log = logging.getLogger("baton.source")


def _wanted_changes() -> tuple[str, ...] | None:
    """Only ADDED/DELETED unless a route takes updates: every status write is one."""
    if any(
        r.filter.get("type") == types.RESOURCE_UPDATE and r.filter.get("kind") in (None, "AgentRun")
        for r in chain.ROUTES
    ):
        return None
    return ("ADDED", "DELETED")


def follow_runs(
    store: Store,
    publish: Callable[[CloudEvent], None],
    *,
    stop: threading.Event,
    ready: threading.Event,
    record: Callable[[BaseCloudEvent], None] | None = None,
    timeout: float = 0.1,
) -> None:
    """Publish AgentRun changes as ApiServerSource events until ``stop`` is set.

    The first watch starts with every run that exists (``since="0"``, as an informer's
    initial list): a run applied while nothing ran, or one whose emit was lost when the
    last process died, is taken up at once; validate's answer to a run it already
    decided is that run's needs (functions.run.needs). ``timeout`` bounds how long
    ``stop`` waits for the watch to notice.
    """
    since: str | None = "0"
    changes = _wanted_changes()
    while not stop.is_set():
        try:
            stream = store.watch("AgentRun", since=since, timeout=timeout, changes=changes)
            ready.set()
            for change in stream:
                event = resource_event(change.type, change.object)
                if record is not None and change.type != "MODIFIED":
                    record(event)
                publish(event)
                if stop.is_set():
                    return
            # Resume exactly where this watch ended: no change falls between two watches.
            since = str(getattr(stream, "resource_version", "") or since or "") or None
        except Expired:
            log.warning("store watch fell behind its change log; resuming from now")
            since = None


def tick(publish: Callable[[CloudEvent], None], *, interval: float, stop: threading.Event) -> None:
    """Publish ``dev.baton.tick`` every ``interval`` seconds until ``stop`` is set.

    One id per interval: ticks from two sources in the same interval dedupe.
    """
    if interval <= 0:
        return
    while not stop.wait(interval):
        slot = int(time.time() // interval)
        publish(make_event(types.TICK, "/baton/timer", None, id_=f"tick/{slot}"))
