"""A bound on how many threads of one process run transition code at once.

The embedded runtime needs many threads: each model or tool call blocks one for as long
as it takes. But Python runs one thread at a time, and every thread that is runnable
competes for that: with 32 of them taking turns at transitions, a run costs twice the CPU
it costs on one (measured in ``make bench``: the GIL hand-offs, not the work). The gate
lets ``slots`` threads run transitions; a thread gives its slot up while it waits on a
model, a tool or a chat API, and takes one again to record the result.

    gate = Gate(1)
    handler = gate.wrap(handler)         # a bus handler runs holding a slot
    deps = gate.around_effects(deps)     # model, tool and chat calls give it up
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

from functions.ports import (
    Channels,
    Deps,
    Model,
    ModelFactory,
    ModelReply,
    ModelRequest,
    Resource,
    Toolbox,
    ToolCall,
    ToolContext,
    ToolResult,
    ToolSpec,
)

__all__ = ["Gate", "slots_for"]

T = TypeVar("T")


def slots_for(store: object) -> int | None:
    """``BATON_RUN_SLOTS`` if set, else 1 on a local store (SQLite), else no bound (None).

    One, because Python runs one thread at a time anyway: measured, two slots cost as
    much CPU per run as no gate. A store behind the network (the Kubernetes API) is
    not bounded: a transition waits on its round trips, and others should run meanwhile.
    """
    configured = os.environ.get("BATON_RUN_SLOTS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return 1 if getattr(store, "local", False) else None


class Gate:
    """At most ``slots`` threads inside ``held`` at once; ``released`` steps out for a while."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        # One slot is a plain lock: a Semaphore is a Condition in Python, and waking its
        # waiters took a quarter of the GIL's time in the profile.
        self._free: threading.Semaphore | Any = (
            threading.Lock() if slots == 1 else threading.Semaphore(slots)
        )
        self._depth = threading.local()  # how deep this thread is in ``held`` (re-entrant)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Run the block holding a slot (a thread that holds one already keeps it)."""
        depth = getattr(self._depth, "n", 0)
        if depth == 0:
            self._free.acquire()
        self._depth.n = depth + 1
        try:
            yield
        finally:
            self._depth.n = depth
            if depth == 0:
                self._free.release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Run the block without this thread's slot (a wait on something outside)."""
        depth = getattr(self._depth, "n", 0)
        if depth == 0:
            yield
            return
        self._depth.n = 0
        self._free.release()
        try:
            yield
        finally:
            self._free.acquire()
            self._depth.n = depth

    def wrap(self, handler: Callable[[Any], T]) -> Callable[[Any], T]:
        """``handler``, run holding a slot."""

        def gated(event: Any) -> T:
            with self.held():
                return handler(event)

        return gated

    def around_effects(self, deps: Deps) -> Deps:
        """``deps`` whose model, tool and chat calls give the slot up while they wait."""
        channels = deps.channels
        return replace(
            deps,
            models=_Models(deps.models, self),
            tools=_Tools(deps.tools, self),
            channels=_Channels(channels, self) if channels is not None else None,
        )


class _Model:
    def __init__(self, inner: Model, gate: Gate) -> None:
        self.inner, self.gate = inner, gate

    def complete(self, request: ModelRequest) -> ModelReply:
        with self.gate.released():
            return self.inner.complete(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _Models:
    def __init__(self, inner: ModelFactory, gate: Gate) -> None:
        self.inner, self.gate = inner, gate

    def for_resource(self, model: Resource) -> Model:
        return _Model(self.inner.for_resource(model), self.gate)

    def for_models(self, models: Sequence[Resource]) -> Model:
        return _Model(self.inner.for_models(models), self.gate)

    def cost(self, model: Resource, usage: Mapping[str, int]) -> str:
        return self.inner.cost(model, usage)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _Tools:
    def __init__(self, inner: Toolbox, gate: Gate) -> None:
        self.inner, self.gate = inner, gate

    def specs(self, agent: Resource, namespace: str) -> list[ToolSpec]:
        with self.gate.released():  # may start an MCP server and list its tools
            return self.inner.specs(agent, namespace)

    def call(self, call: ToolCall, ctx: ToolContext) -> ToolResult:
        with self.gate.released():
            return self.inner.call(call, ctx)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _Channels:
    def __init__(self, inner: Channels, gate: Gate) -> None:
        self.inner, self.gate = inner, gate

    def post(self, routing: Mapping[str, Any], text: str, idempotency_key: str) -> None:
        with self.gate.released():
            self.inner.post(routing, text, idempotency_key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
