"""A run as a timeline: every step with its latency, tokens and cost, sub-agent runs nested.

The steps come from the journal (what the model said, which tools ran, their results)
and the status; their times come from the run's chain of CloudEvents when a log of it
is kept (SQLite shapes). On the Kubernetes store there is no such log: the same steps
are shown with tokens and cost, and the run's own start, end and conditions carry time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Protocol

from events import types
from functions.console.conversation import conversation
from functions.console.views import PARENT_LABEL, summary
from functions.models.pricing import cost_usd
from functions.ports import NotFound, Resource, Store
from functions.run.status import TERMINAL_PHASES, parse_time
from functions.run.transcript import CONTEXT, Transcript

__all__ = ["ChainEvent", "ChainLog", "run_page"]

MAX_DEPTH: Final = 5
MAX_CHILDREN: Final = 50
# What call_llm emits at the step it answered: the end of that step's model call.
_MODEL_ANSWERS: Final = frozenset(
    {types.TOOL_REQUESTED, types.RUN_COMPLETED, types.RUN_REPLIED, types.RUN_FAILED}
)


class ChainEvent(Protocol):
    """One recorded event of a run (``functions.runtime.eventlog.LoggedEvent``)."""

    @property
    def seq(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def step(self) -> int | None: ...
    @property
    def detail(self) -> str: ...
    @property
    def time(self) -> float | None: ...


ChainLog = Callable[[Resource], Sequence[ChainEvent]]


def short_type(type_: str) -> str:
    """``dev.baton.llm.requested`` -> ``llm.requested``."""
    return type_.removeprefix("dev.baton.").removeprefix("dev.knative.apiserver.")


class _Clock:
    """The times of one run's events, as ms after the root run's first event."""

    def __init__(self, events: Sequence[ChainEvent], origin: float | None) -> None:
        self.origin = origin
        # (type, step) -> events in log order; (type, None) -> every step's. A page asks
        # a few questions per step: an index keeps a 100-step run's page linear.
        self.index: dict[tuple[str, int | None], list[ChainEvent]] = {}
        for ev in events:
            if ev.time is not None:
                self.index.setdefault((ev.type, ev.step), []).append(ev)
                self.index.setdefault((ev.type, None), []).append(ev)

    def ms(self, ev: ChainEvent | None) -> float | None:
        if ev is None or ev.time is None or self.origin is None:
            return None
        return round((ev.time - self.origin) * 1000, 3)

    def first(self, type_: str | frozenset[str], step: int | None = None, call: str = "") -> Any:
        found: list[ChainEvent] = []
        for one in (type_,) if isinstance(type_, str) else type_:
            found += [
                ev for ev in self.index.get((one, step), ()) if not call or call in ev.id.split("/")
            ][:1]
        return min(found, key=lambda ev: ev.seq) if found else None


def _span(clock: _Clock, start: ChainEvent | None, end: ChainEvent | None) -> dict[str, Any]:
    begin, finish = clock.ms(start), clock.ms(end)
    took = None if begin is None or finish is None else round(finish - begin, 3)
    return {"start": begin, "end": finish, "durationMs": took}


def _pricing(store: Store, namespace: str, model: str) -> dict[str, Any] | None:
    if not model:
        return None
    try:
        return dict((store.get("Model", namespace, model).get("spec") or {}).get("pricing") or {})
    except NotFound:
        return None


def _children(store: Store, run: Resource) -> dict[str, Resource]:
    meta = run["metadata"]
    # Children carry their parent's uid as a label (a re-created parent has other children).
    found = store.list("AgentRun", meta.get("namespace", "default"), {PARENT_LABEL: meta["uid"]})
    by_call = {}
    for child in found[:MAX_CHILDREN]:
        parent = child["spec"].get("parent") or {}
        if parent.get("uid") == meta.get("uid") and parent.get("toolCallId"):
            by_call[str(parent["toolCallId"])] = child
    return by_call


def _steps(
    store: Store, run: Resource, tx: Transcript, clock: _Clock, log: ChainLog | None, depth: int
) -> list[dict[str, Any]]:
    st = run.get("status") or {}
    namespace = run["metadata"].get("namespace", "default")
    model = str(tx.context.get("model", ""))
    pricing = _pricing(store, namespace, model)
    waiting = set(st.get("awaitingApproval") or [])
    children = _children(store, run) if depth < MAX_DEPTH else {}
    last = max(
        int(st.get("step") or 0), *(int(k[6:]) for k in tx.order if k.startswith("reply/")), 0
    )
    rows: list[dict[str, Any]] = []
    accepted = clock.first(types.RUN_ACCEPTED)
    rows.append(
        {
            "kind": "transition",
            "name": "validate",
            **_span(clock, clock.first(types.RESOURCE_ADD), accepted),
        }
    )
    if CONTEXT in tx.entries:
        rows.append(
            {
                "kind": "transition",
                "name": "prepare context",
                **_span(clock, accepted, clock.first(types.LLM_REQUESTED, 1)),
            }
        )
    for step in range(1, last + 1):
        opened = tx.user(step)
        if opened is not None:
            rows.append(
                {
                    "kind": "input",
                    "step": step,
                    "name": "input",
                    "start": clock.ms(clock.first(types.RUN_INPUT_RECEIVED)),
                    "end": None,
                    "durationMs": None,
                }
            )
        reply = tx.reply(step)
        asked = clock.first(types.LLM_REQUESTED, step)
        if reply is None and asked is None and step != int(st.get("step") or 0):
            continue
        usage = (reply or {}).get("usage") or {}
        tokens = {
            k: int(usage.get(k) or 0) for k in ("input", "output", "cacheRead", "cacheCreation")
        }
        rows.append(
            {
                "kind": "model",
                "step": step,
                "name": model or "model",
                "state": "done" if reply is not None else "running",
                "stopReason": str((reply or {}).get("stop_reason", "")),
                "tokens": {**tokens, "total": tokens["input"] + tokens["output"]},
                "cost": cost_usd(usage, pricing) if reply is not None and pricing else None,
                **_span(clock, asked, clock.first(_MODEL_ANSWERS, step) if reply else None),
            }
        )
        for call in tx.tool_calls(step):
            result = tx.tool_result(step, call.id)
            child = children.get(call.id)
            state = "done"
            if result is None:
                state = "awaiting approval" if call.id in waiting else "running"
            elif result.get("is_error"):
                state = "error"
            row: dict[str, Any] = {
                "kind": "tool",
                "step": step,
                "name": call.name,
                "callId": call.id,
                "state": state,
                "input": call.input,
                **_span(
                    clock,
                    clock.first(types.TOOL_REQUESTED, step, call.id),
                    clock.first(types.TOOL_COMPLETED, step, call.id),
                ),
            }
            if child is not None:
                row["run"] = _tree(store, child, log, clock.origin, depth + 1)
            rows.append(row)
    end = clock.first(types.RUN_FINISHED)
    if end is not None or st.get("phase") in TERMINAL_PHASES:
        ask = clock.first(types.TERMINAL_REQUESTS)
        rows.append({"kind": "transition", "name": "finalize", **_span(clock, ask, end)})
    return rows


def _tree(
    store: Store,
    run: Resource,
    log: ChainLog | None,
    origin: float | None,
    depth: int,
    journal: list[tuple[str, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    events = list(log(run)) if log is not None else []
    if origin is None:
        times = [e.time for e in events if e.time is not None]
        origin = min(times) if times else parse_time(run["metadata"].get("creationTimestamp"))
    clock = _Clock(events, origin)
    tx = Transcript(store.read_journal(run) if journal is None else journal)
    return {
        "run": summary(run),
        "origin": origin,
        "model": str(tx.context.get("model", "")),
        "steps": _steps(store, run, tx, clock, log, depth),
        "events": [
            {
                "seq": e.seq,
                "type": short_type(e.type),
                "id": e.id,
                "step": e.step,
                "at": clock.ms(e),
                "detail": e.detail,
            }
            for e in events
        ],
    }


def _totals(node: dict[str, Any]) -> dict[str, Any]:
    runs, tokens, cost, models, tools = 0, 0, Decimal(0), 0, 0
    stack = [node]
    while stack:
        here = stack.pop()
        runs += 1
        tokens += int(here["run"]["tokens"])
        with contextlib.suppress(InvalidOperation):  # a hand-edited status
            cost += Decimal(here["run"]["cost"] or "0")
        for row in here["steps"]:
            models += row["kind"] == "model"
            tools += row["kind"] == "tool"
            if "run" in row:
                stack.append(row["run"])
    text = format(cost.normalize(), "f") if cost else "0"
    return {"runs": runs, "tokens": tokens, "cost": text, "modelCalls": models, "toolCalls": tools}


def run_page(
    store: Store, run: Resource, log: ChainLog | None, now: float | None = None
) -> dict[str, Any]:
    """Everything the run page shows: the tree of steps, totals, transcript, conditions."""
    now = time.time() if now is None else now
    journal = store.read_journal(run)
    tree = _tree(store, run, log, None, 0, journal)
    st = run.get("status") or {}
    spec = run.get("spec") or {}
    origin = tree["origin"]
    running = st.get("phase") not in TERMINAL_PHASES
    return {
        **tree,
        # Where "now" falls on the timeline: open steps (a model call, a parked tool call)
        # are drawn up to it. None once the run is over, or without times.
        "now": round((now - origin) * 1000, 3) if running and origin is not None else None,
        "totals": _totals(tree),
        "task": str(spec.get("task", "")),
        "result": str(st.get("result", "")),
        "error": st.get("error") or None,
        "conditions": list(st.get("conditions") or []),
        "transcript": conversation(journal),
        "timed": log is not None,
    }
