"""The embedded runtime under measurement: a started runtime, a timeline tap, call timing.

``embedded()`` starts the real embedded shape (SQLite store, in-process bus,
every transition) on a temporary database, with the Model and Toolbox seams
wrapped so the time spent inside model and tool calls is known and can be
excluded from baton's overhead.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from bench.scenario import Scenario
from events import types
from functions.cli.manifests import apply
from functions.ports import ModelRequest, Resource, ToolCall, ToolContext, ToolSpec
from functions.runtime.deps import build_deps
from functions.runtime.embedded import Embedded

__all__ = ["CallClock", "CountingStore", "Timeline", "complete", "embedded", "submit", "succeeded"]


class Timeline:
    """Every event the bus publishes, timestamped, grouped by run (a bus tap)."""

    def __init__(self, keep_events: bool = True) -> None:
        self.keep_events = keep_events  # False: only count finished runs (memory figures)
        self.events: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
        self.finished: set[str] = set()
        self._done = threading.Condition()

    def __call__(self, event: Any) -> None:
        now = time.perf_counter()
        run = event.get_extension("batonrun")
        if run is None and event.get_extension("kind") == "AgentRun":
            run = f"{event.get_extension('namespace') or 'default'}/{event.get_extension('name')}"
        if run is None:
            return
        if self.keep_events:
            self.events[run].append((now, event.get_type(), event.get_source()))
        if event.get_type() == types.RUN_FINISHED:
            with self._done:
                self.finished.add(run)
                self._done.notify_all()

    def wait(self, names: list[str], timeout: float) -> bool:
        """Block until the runs ``names`` (in namespace default) finished; False on timeout."""
        keys = {f"default/{n}" for n in names}
        deadline = time.monotonic() + timeout
        with self._done:
            while not keys <= self.finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(left)
        return True


@dataclass
class CallClock:
    """Intervals spent inside model and tool calls, so transitions can exclude them."""

    intervals: list[tuple[float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, fn: Any, *args: Any) -> Any:
        """Call ``fn`` and keep the interval it took."""
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            ended = time.perf_counter()
            with self.lock:
                self.intervals.append((started, ended))

    def inside(self, start: float, end: float) -> float:
        """Seconds of model/tool time within [start, end]."""
        with self.lock:
            spans = list(self.intervals)
        return sum(max(0.0, min(e, end) - max(s, start)) for s, e in spans)


class _TimedModel:
    def __init__(self, inner: Any, clock: CallClock) -> None:
        self._inner, self._clock = inner, clock

    def complete(self, request: ModelRequest) -> Any:
        return self._clock.timed(self._inner.complete, request)


class _TimedModels:
    def __init__(self, inner: Any, clock: CallClock) -> None:
        self._inner, self._clock = inner, clock

    def for_resource(self, model: Resource) -> Any:
        return _TimedModel(self._inner.for_resource(model), self._clock)

    def for_models(self, models: Any) -> Any:
        return _TimedModel(self._inner.for_models(models), self._clock)

    def cost(self, model: Resource, usage: Any) -> str:
        return str(self._inner.cost(model, usage))


class _TimedTools:
    def __init__(self, inner: Any, clock: CallClock) -> None:
        self._inner, self._clock = inner, clock

    def specs(self, agent: Resource, namespace: str) -> list[ToolSpec]:
        return list(self._inner.specs(agent, namespace))

    def call(self, call: ToolCall, ctx: ToolContext) -> Any:
        return self._clock.timed(self._inner.call, call, ctx)


class CountingStore:
    """A Store that counts its writes (each is one commit); everything else passes through."""

    WRITES = ("create", "update", "update_status", "commit", "append_journal", "delete")

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.writes: dict[str, int] = dict.fromkeys(self.WRITES, 0)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self.WRITES:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            self.writes[name] += 1
            return result

        return counted

    def total(self) -> int:
        """Writes so far."""
        return sum(self.writes.values())


@contextmanager
def embedded(
    sc: Scenario,
    *,
    workers: int = 32,
    db_dir: str | None = None,
    record_events: bool = True,
    keep_timeline: bool = True,
) -> Iterator[tuple[Embedded, Timeline, CallClock]]:
    """A started embedded runtime with the scenario applied, a timeline tap and a call clock."""
    from functions.resources.sqlite import SqliteStore

    with tempfile.TemporaryDirectory(prefix="baton-bench-", dir=db_dir) as tmp:
        db = f"{tmp}/state.db"
        sqlite = SqliteStore(db)
        store: Any = CountingStore(sqlite)
        clock = CallClock()
        base = build_deps(store)
        deps = replace(
            base, models=_TimedModels(base.models, clock), tools=_TimedTools(base.tools, clock)
        )
        runtime = Embedded(
            db,
            workers=workers,
            sweep_interval=0,
            deps=deps,
            store=store,
            record_events=record_events,
        )
        timeline = Timeline(keep_timeline)
        runtime.bus.tap(timeline)
        with runtime:
            apply(runtime.store, sc.resources())
            yield runtime, timeline, clock
        sqlite.close()


def submit(runtime: Embedded, sc: Scenario, names: list[str]) -> None:
    """Create the AgentRuns (as ``kubectl apply`` of many would)."""
    for name in names:
        runtime.store.create(sc.run_named(name))


def complete(
    runtime: Embedded, timeline: Timeline, sc: Scenario, names: list[str], timeout: float = 600
) -> None:
    """Submit the runs and wait until every one of them finished."""
    submit(runtime, sc, names)
    if not timeline.wait(names, timeout):
        missing = len({f"default/{n}" for n in names} - timeline.finished)
        raise RuntimeError(f"{missing} of {len(names)} runs did not finish in {timeout:.0f} s")


def succeeded(runtime: Embedded, names: list[str]) -> int:
    """How many of the runs ``names`` are Succeeded."""
    wanted = set(names)
    return sum(
        1
        for r in runtime.store.list("AgentRun", "default")
        if r["metadata"]["name"] in wanted and r.get("status", {}).get("phase") == "Succeeded"
    )
