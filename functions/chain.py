"""The chain: which function takes which events, as Knative Triggers would filter them.

This table is the routing of the embedded and NATS shapes; in Knative the
Triggers under knative/ say the same (a test holds them equal).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.bus import Handler, Subscription
from events.envelope import CloudEvent
from functions import tracing
from functions.observe.instrument import observed_handler
from functions.ports import Deps

__all__ = ["FUNCTIONS", "ROUTES", "Recorder", "Route", "subscriptions", "transition"]

log = logging.getLogger("baton.chain")


@dataclass(frozen=True)
class Route:
    """One Trigger: events whose attributes equal ``filter`` go to ``function``."""

    function: str
    filter: Mapping[str, str]


ROUTES: Final[tuple[Route, ...]] = (
    Route("route", {"type": types.RUN_REQUESTED}),
    Route("route", {"type": types.CHANNEL_MESSAGE}),
    Route("validate", {"type": types.RESOURCE_ADD, "kind": "AgentRun"}),
    Route("validate", {"type": types.REF_ADD, "kind": "AgentRun"}),
    Route("prepare_context", {"type": types.RUN_ACCEPTED}),
    Route("prepare_context", {"type": types.RUN_INPUT_RECEIVED}),
    Route("call_llm", {"type": types.LLM_REQUESTED}),
    Route("call_tool", {"type": types.TOOL_REQUESTED}),
    Route("call_tool", {"type": types.TOOL_APPROVED}),
    Route("finalize", {"type": types.RUN_COMPLETED}),
    Route("finalize", {"type": types.RUN_FAILED}),
    Route("finalize", {"type": types.RUN_CANCELLED}),
    Route("finalize", {"type": types.RUN_TIMEDOUT}),
    Route("deliver", {"type": types.RUN_FINISHED}),
    Route("deliver", {"type": types.RUN_REPLIED}),
    Route("sweep", {"type": types.TICK}),
    Route("sweep", {"type": types.PING}),
    Route("trigger", {"type": types.RESOURCE_ADD, "kind": "AgentTrigger"}),
    Route("trigger", {"type": types.RESOURCE_UPDATE, "kind": "AgentTrigger"}),
    Route("trigger", {"type": types.RESOURCE_DELETE, "kind": "AgentTrigger"}),
)
FUNCTIONS: Final = (*tuple(dict.fromkeys(r.function for r in ROUTES)), "dead_letter")


class Transition(Protocol):
    """The shape of every transition module's ``handle``."""

    def __call__(self, event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]: ...


class Recorder(Protocol):
    """Something that keeps a copy of every event emitted (the run's event log)."""

    def record(self, event: BaseCloudEvent) -> None: ...


def transition(function: str) -> Transition:
    """The ``handle`` of a function, imported on first use (functions start fast)."""
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}; known: {', '.join(FUNCTIONS)}")
    module = importlib.import_module(f"functions.{function}")
    handle: Transition = module.handle
    return handle


def bind(function: str, deps: Deps, recorder: Recorder | None = None) -> Handler:
    """A bus handler running ``function`` with ``deps``; emitted events are recorded."""
    handle = transition(function)

    def run(event: BaseCloudEvent) -> list[CloudEvent]:
        started = time.perf_counter()
        emitted = handle(event, deps)
        if recorder is not None:
            for out in emitted:
                # A store change is the watch's to record (once); sweep's re-announcement
                # of a waiting run is not a new step of its chain.
                if out.get_type() not in types.APISERVER_TYPES:
                    recorder.record(out)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s -> %s (%.2f ms)",
                function,
                event.get_type(),
                [e.get_type() for e in emitted],
                (time.perf_counter() - started) * 1000,
            )
        return emitted

    observed = observed_handler(function, run)
    if tracing.enabled():
        return tracing.traced(function, observed)
    return observed


def subscriptions(
    deps: Deps, functions: Iterable[str] | None = None, recorder: Recorder | None = None
) -> list[Subscription]:
    """The chain's subscriptions for ``functions`` (all when None), bound to ``deps``."""
    wanted = set(functions or FUNCTIONS)
    handlers: dict[str, Handler] = {}
    subs = []
    for route in ROUTES:
        if route.function not in wanted:
            continue
        if route.function not in handlers:
            handlers[route.function] = bind(route.function, deps, recorder)
        subs.append(Subscription(route.function, route.filter, handlers[route.function]))
    return subs


def dead_letter_handler(
    deps: Deps, recorder: Recorder | None = None
) -> Callable[[BaseCloudEvent], list[CloudEvent]]:
    """The handler buses call with dead-lettered events."""
    return bind("dead_letter", deps, recorder)
