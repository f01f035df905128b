"""Builds Deps from the fakes and drives a run through the transitions by hand."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.apiserver import resource_event
from events.envelope import CloudEvent, RunRef, make_event, run_event
from functions import call_llm, call_tool, prepare_context, sweep, validate
from functions.chain import ROUTES, transition
from functions.ports import API_VERSION, Deps, Resource
from functions.run.needs import needs
from functions.run.status import Stage
from functions.tools import AgentToolbox
from tests.fakes.clock import FakeClock
from tests.fakes.model import FakeModels, tool_use
from tests.fakes.store import FakeStore

__all__ = ["Harness", "JournalFirstStore"]


class JournalFirstStore(FakeStore):
    """FakeStore whose ``commit`` can die between the journal and the status write.

    The Kubernetes store has no transaction across objects: it appends the journal
    entries first, then writes the status. ``crash_commit`` makes one later commit
    stop right there (or before it wrote anything), as a killed process would, or
    have its status write refused (``Conflict``) after its journal landed.
    """

    def __init__(self, clock: FakeClock | None = None) -> None:
        super().__init__(clock)
        self._crash: list[tuple[int, bool, BaseException]] = []

    def crash_commit(
        self, skip: int = 0, *, after_journal: bool = True, error: BaseException | None = None
    ) -> None:
        """The commit after ``skip`` more commits dies (with or without its journal)."""
        self._crash.append((skip, after_journal, error or ConnectionError("store went away")))

    def commit(
        self, obj: Resource, journal: Mapping[str, Mapping[str, Any]] | None = None
    ) -> Resource:
        """As FakeStore's, unless a crash is due: then the journal only, and ``error``."""
        if self._crash:
            skip, after_journal, error = self._crash[0]
            if skip == 0:
                self._crash.pop(0)
                for key, entry in (journal or {}).items() if after_journal else ():
                    self.append_journal(obj, key, entry)
                raise error
            self._crash[0] = (skip - 1, after_journal, error)
        return super().commit(obj, journal)


class Harness:
    """One fake world: store, models, clock, the real AgentToolbox, and resource builders."""

    def __init__(self, store: Any = None) -> None:
        self.clock = FakeClock()
        self.store = store if store is not None else JournalFirstStore(self.clock)
        self.models = FakeModels()
        self.deps = Deps(self.store, self.models, AgentToolbox(self.store), self.clock)
        self.seen: list[CloudEvent] = []  # every event pump() handled, in order

    # -- resources --------------------------------------------------------

    def create(self, kind: str, name: str, spec: dict[str, Any], **meta: Any) -> Resource:
        """Create a ``kind`` resource in namespace default."""
        obj = {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {"name": name, "namespace": "default", **meta},
            "spec": spec,
        }
        return self.store.create(obj)

    def model(self, name: str = "m1", **spec: Any) -> Resource:
        """A Model (provider anthropic: the fake factory answers for it)."""
        return self.create("Model", name, {"provider": "anthropic", "model": "fake-1", **spec})

    def agent(self, name: str = "a1", model: str = "m1", **spec: Any) -> Resource:
        """An Agent with the calculate and current_time builtins."""
        base = {
            "modelRef": {"name": model},
            "systemPrompt": "You are terse.",
            "tools": [{"builtin": "calculate"}, {"builtin": "current_time"}],
            "limits": {"maxTurns": 5},
        }
        return self.create("Agent", name, {**base, **spec})

    def run(
        self, name: str = "r1", agent: str = "a1", task: str = "What is 6*7?", **spec: Any
    ) -> Resource:
        """An AgentRun as a user would apply it."""
        return self.create("AgentRun", name, {"agentRef": {"name": agent}, "task": task, **spec})

    def delegating_run(self) -> list[CloudEvent]:
        """Run r1 of a1 asks sub-agent ``helper`` (call t1, task "find x"); call_tool's events."""
        self.model()
        self.agent("helper")
        self.agent(tools=[{"agent": "helper", "name": "ask_helper"}])
        self.run()
        self.models.script("m1", tool_use(("t1", "ask_helper", {"task": "find x"})))
        (requested,) = call_llm.handle(self.prepared()[0], self.deps)
        return call_tool.handle(requested, self.deps)

    def world(self, **agent_spec: Any) -> Resource:
        """Model m1, Agent a1 and AgentRun r1; returns the run."""
        self.model()
        self.agent(**agent_spec)
        return self.run()

    def get(self, name: str = "r1") -> Resource:
        """The run as stored now."""
        return self.store.get("AgentRun", "default", name)

    def status(self, name: str = "r1") -> dict[str, Any]:
        """The run's status as stored now."""
        return self.get(name).get("status") or {}

    def journal(self, name: str = "r1") -> dict[str, dict[str, Any]]:
        """The run's journal as a dict."""
        return dict(self.store.read_journal(self.get(name)))

    # -- events -----------------------------------------------------------

    def event(
        self,
        type_: str,
        name: str = "r1",
        step: int = 0,
        data: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        tool_call_id: str | None = None,
    ) -> CloudEvent:
        """A baton event about run ``name`` with the id the chain would give it."""
        payload = dict(data or {})
        if tool_call_id is not None:
            payload["toolCallId"] = tool_call_id
            key = key or tool_call_id
        return run_event(type_, RunRef.of(self.get(name)), step, payload, key=key)

    def needs(self, name: str = "r1") -> list[CloudEvent]:
        """What run ``name`` still needs, from its record alone."""
        return needs(self.get(name), self.clock.now())

    def tick(self) -> list[CloudEvent]:
        """Run sweep once, as the timer's tick does."""
        return sweep.handle(make_event(types.TICK, "/test/tick", None), self.deps)

    def added(self, name: str = "r1") -> CloudEvent:
        """The watch's add event for run ``name``."""
        return resource_event("ADDED", self.get(name))

    def deliver(self, event: BaseCloudEvent) -> list[CloudEvent]:
        """Run the function the chain routes ``event`` to (the first matching route)."""
        attrs = event.get_attributes()
        for route in ROUTES:
            if all(attrs.get(k) == v for k, v in route.filter.items()):
                return transition(route.function)(event, self.deps)
        raise AssertionError(f"no route for {event.get_type()}")

    def prepared(self, name: str = "r1") -> list[CloudEvent]:
        """Validate and prepare run ``name``; returns prepare_context's events (llm.requested)."""
        accepted = validate.handle(self.added(name), self.deps)
        assert [e.get_type() for e in accepted] == [types.RUN_ACCEPTED], self.status(name)
        return prepare_context.handle(accepted[0], self.deps)

    def pump(
        self,
        events: list[CloudEvent],
        rng: Any = None,
        duplicate: float = 0.0,
        limit: int = 500,
        lose: float = 0.0,
    ) -> list[CloudEvent]:
        """Deliver ``events`` and what they lead to until none is left, as a bus would.

        With ``rng``, the next event is picked at random (reordering) and, with
        probability ``duplicate``, delivered again later; with probability ``lose`` an
        emitted event (or a watch announcement) is never published, as when a process
        dies between its commit and its publish. New AgentRuns are announced like the
        store's watch does. Returns the events no function takes (finished,
        tool.completed), in emission order.
        """
        queue, unrouted = list(events), []
        seen = len(self.store.changes)

        def publish(new: list[CloudEvent]) -> None:
            queue.extend(e for e in new if rng is None or rng.random() >= lose)

        for _ in range(limit):
            if not queue:
                return unrouted
            event = queue.pop(rng.randrange(len(queue)) if rng else 0)
            self.seen.append(event)
            if event.get_type() in (types.RUN_FINISHED, types.TOOL_COMPLETED):
                unrouted.append(event)
                continue
            publish(self.deliver(event))
            if rng is not None and rng.random() < duplicate:
                queue.append(event)
            publish(
                [
                    resource_event("ADDED", change.object)
                    for _rv, change in self.store.changes[seen:]
                    if change.type == "ADDED" and change.object["kind"] == "AgentRun"
                ]
            )
            seen = len(self.store.changes)
        raise AssertionError(f"still {len(queue)} events after {limit} deliveries")

    def settle(self, events: list[CloudEvent], rng: Any = None, lose: float = 0.0) -> int:
        """Pump, then let sweep's ticks repair what was lost until every run ended; the ticks."""
        self.pump(events, rng, lose=lose)
        for ticks in range(1, 100):
            runs = self.store.list("AgentRun")
            if runs and all((r.get("status") or {}).get("stage") == Stage.DONE for r in runs):
                return ticks - 1
            self.clock.advance(sweep.QUIET_SECONDS + 1)
            self.pump(self.tick(), rng, lose=lose)
        raise AssertionError("the runs never ended")
