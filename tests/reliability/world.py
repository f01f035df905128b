"""A fake world for driving the real transitions with duplicated, reordered and forged events.

``World`` is the transitions harness (tests/transitions/harness.py) with a model that answers
from what it is asked (so any number of runs, in any order, get the same replies) and a
toolbox that counts executions by idempotency key. ``deliver`` acts as a bus would: a
``PermanentError`` sends the event to dead_letter with the reason attached.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.v1.event import CloudEvent

from events.apiserver import resource_event
from events.bus import DEAD_LETTER_MESSAGE, DEAD_LETTER_REASON
from events.errors import PermanentError, TransientError
from functions.chain import ROUTES, transition
from functions.ports import (
    Deps,
    ModelReply,
    ModelRequest,
    Resource,
    ToolCall,
    ToolContext,
    ToolResult,
    ToolSpec,
    Usage,
)
from functions.tools import AgentToolbox
from tests.transitions.harness import Harness

__all__ = ["CALL_ID", "FIRST_USAGE", "SECOND_USAGE", "World", "expected_answer"]

CALL_ID = "calc-1"  # the id of the one tool call every run's model asks for
FIRST_USAGE = Usage(input=100, output=20)
SECOND_USAGE = Usage(input=150, output=12)
Hook = Callable[[], None]


def expected_answer(number: int) -> str:
    """What the model answers for run ``number`` once ``calculate`` returned."""
    return f"The answer is {number * 7}."


class AnsweringModel:
    """A Model that asks for ``calculate`` on the task's number, then answers with the result.

    Counts every call by idempotency key; ``during`` runs inside a call (an event arriving
    while the call is in flight).
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.during: Hook | None = None

    def complete(self, request: ModelRequest) -> ModelReply:
        """A tool_use for the task's first call, the final answer after a tool result."""
        self.calls[request.idempotency_key] += 1
        if self.during is not None:
            hook, self.during = self.during, None
            hook()
        last = request.messages[-1]["content"]
        if isinstance(last, list) and any(b.get("type") == "tool_result" for b in last):
            result = next(b["content"] for b in last if b.get("type") == "tool_result")
            answer = {"type": "text", "text": f"The answer is {result}."}
            return ModelReply([answer], "end_turn", SECOND_USAGE, "fake-1")
        number = re.search(r"\d+", str(last)).group()  # type: ignore[union-attr]
        use = {
            "type": "tool_use",
            "id": CALL_ID,
            "name": "calculate",
            "input": {"expression": f"{number}*7"},
        }
        return ModelReply([use], "tool_use", FIRST_USAGE, "fake-1")


class AnsweringModels:
    """``ModelFactory`` with one ``AnsweringModel`` for every Model resource."""

    def __init__(self) -> None:
        self.model = AnsweringModel()

    def for_resource(self, model: Resource) -> AnsweringModel:
        """The one model."""
        return self.model

    def for_models(self, models: Sequence[Resource]) -> AnsweringModel:
        """The one model, whatever the failover chain."""
        return self.model

    def cost(self, model: Resource, usage: Mapping[str, int]) -> str:
        """One micro-dollar a token."""
        return f"{usage.get('total', 0) / 1_000_000:.6f}"


class CountingToolbox:
    """The real ``AgentToolbox``, counting each execution by its idempotency key."""

    def __init__(self, inner: AgentToolbox) -> None:
        self.inner = inner
        self.calls: list[tuple[str, ToolCall]] = []
        self.during: Hook | None = None

    def specs(self, agent: Resource, namespace: str) -> list[ToolSpec]:
        """The agent's tools."""
        return self.inner.specs(agent, namespace)

    def call(self, call: ToolCall, ctx: ToolContext) -> ToolResult:
        """Run the tool; ``during`` runs while it is in flight."""
        self.calls.append((ctx.idempotency_key, call))
        if self.during is not None:
            hook, self.during = self.during, None
            hook()
        return self.inner.call(call, ctx)

    def executions(self) -> Counter[str]:
        """Executions per idempotency key."""
        return Counter(key for key, _ in self.calls)


def _dead_lettered(event: BaseCloudEvent, error: PermanentError) -> CloudEvent:
    attributes = dict(event.get_attributes())
    attributes[DEAD_LETTER_REASON] = error.reason
    attributes[DEAD_LETTER_MESSAGE] = error.message
    return CloudEvent(attributes, event.get_data())


class World(Harness):
    """The transitions harness with the answering model and the counting toolbox."""

    def __init__(self) -> None:
        super().__init__()
        self.answering = AnsweringModels()
        self.toolbox = CountingToolbox(AgentToolbox(self.store))
        self.deps = Deps(self.store, self.answering, self.toolbox, self.clock)
        self.retries: list[CloudEvent] = []  # events a TransientError put aside

    @property
    def model_calls(self) -> Counter[str]:
        """Model calls per idempotency key."""
        return self.answering.model.calls

    def runs(self, count: int) -> list[str]:
        """Model m1, Agent a1 and ``count`` runs r0... asking for n*7; their names."""
        self.model()
        self.agent()
        names = [f"r{n}" for n in range(count)]
        for n, name in enumerate(names):
            self.run(name, task=f"What is {n}*7?")
        return names

    def deliver(self, event: BaseCloudEvent) -> list[CloudEvent]:
        """Run the routed function as a bus would: a PermanentError goes to dead_letter."""
        attrs = event.get_attributes()
        for route in ROUTES:
            if all(attrs.get(k) == v for k, v in route.filter.items()):
                try:
                    return transition(route.function)(event, self.deps)
                except PermanentError as exc:
                    return transition("dead_letter")(_dead_lettered(event, exc), self.deps)
        return []  # finished, tool.completed: no function takes them

    def added_events(self, since: int) -> list[CloudEvent]:
        """The watch's add events for AgentRuns created after change ``since``."""
        return [
            resource_event("ADDED", change.object)
            for _rv, change in self.store.changes[since:]
            if change.type == "ADDED" and change.object["kind"] == "AgentRun"
        ]

    def drive(
        self,
        events: list[CloudEvent] | None = None,
        rng: random.Random | None = None,
        copies: int = 1,
        limit: int = 20_000,
    ) -> int:
        """Deliver ``events`` (None: every AgentRun's add event) and all that follows, each
        ``copies`` times, in the order ``rng`` picks (FIFO without one), until nothing is
        left; new AgentRuns are announced as the watch would. An event that raised
        ``TransientError`` is retried once other deliveries made progress, as a bus's retry
        would (held across nested drives: an event arriving while a call is in flight).
        Returns the deliveries made."""
        seen = 0 if events is None else len(self.store.changes)
        pool = [e for e in events or [] for _ in range(copies)]
        delivered = 0
        progress = False
        while True:
            for event in self.added_events(seen):
                pool.extend([event] * copies)
            seen = len(self.store.changes)
            if not pool and self.retries and progress:
                pool, self.retries, progress = self.retries, [], False
            if not pool:
                return delivered
            assert delivered < limit, f"still {len(pool)} events after {limit} deliveries"
            event = pool.pop(rng.randrange(len(pool)) if rng else 0)
            delivered += 1
            try:
                emitted = self.deliver(event)
            except TransientError:
                self.retries.append(event)
                continue
            progress = True
            for out in emitted:
                pool.extend([out] * copies)
