"""sweep: the level-triggered safety net, driven by ``dev.baton.tick``.

Edge-triggered delivery can lose an event (a crash between write and emit, an
ApiServerSource that started after the run was created, a dropped retry). Sweep
compares every run's status with the clock and re-emits what is missing; the
transitions' guards make a re-emit of something already handled a no-op. It
also turns a person's annotations into events (``baton.dev/cancel``,
``baton.dev/approve``/``reject``: what ``baton cancel``/``approve`` or ``kubectl
annotate`` set), enforces timeouts, wakes Serving runs for queued input (what
``baton send`` journals) and ends them idle past their idleTTL, deletes runs with
``cleanup: delete`` and keeps each agent's finished runs within ``runHistoryLimit``
(here rather than in finalize, so finalize's cost never grows with history).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.apiserver import resource_event
from events.envelope import CloudEvent, RunRef, data_of, run_event
from functions.agentrun import KIND, Stage, is_terminal, parse_duration, parse_time
from functions.ports import Deps, NotFound, Resource
from functions.session import idle_ttl, input_event, input_key, next_input
from functions.toolstep import call_data, tool_requested
from functions.transcript import load

__all__ = ["Settings", "handle"]

NAME = "sweep"
DEFAULT_HISTORY_LIMIT: Final = 50
# Annotations a person (baton cancel/approve, or kubectl annotate) sets on an AgentRun.
CANCEL: Final = "baton.dev/cancel"
APPROVE: Final = "baton.dev/approve"
REJECT: Final = "baton.dev/reject"
APPROVED_BY: Final = "baton.dev/decided-by"


class Settings:
    """Thresholds, overridable per tick in the event's data."""

    def __init__(self, data: dict[str, Any]) -> None:
        # A model or tool call may be in flight for minutes: wait that long before re-driving.
        self.stall_after = float(data.get("stallAfterSeconds", 300))
        # Accepted and Finalizing stages wait on no outside call: a lost event shows sooner.
        self.quick_after = min(float(data.get("quickStallAfterSeconds", 30)), self.stall_after)
        self.unseen_after = float(data.get("unseenAfterSeconds", 10))

    def stalled_after(self, stage: str | None) -> float:
        """How long a run may sit in ``stage`` before sweep re-emits what it waits for."""
        return self.quick_after if stage in (Stage.ACCEPTED, Stage.FINALIZING) else self.stall_after


def _timeout(run: Resource, agents: dict[tuple[str, str], Resource | None]) -> float | None:
    spec = run["spec"]
    if spec.get("timeout"):
        return parse_duration(spec["timeout"])
    agent = agents.get((run["metadata"].get("namespace", "default"), spec["agentRef"]["name"]))
    return parse_duration(((agent or {}).get("spec", {}).get("limits") or {}).get("timeout"))


def _redrive(deps: Deps, run: Resource, now: float) -> list[CloudEvent]:
    """The event a stalled run is waiting for, emitted again."""
    st = run["status"]
    ref, step, stage = RunRef.of(run), int(st.get("step", 0)), st.get("stage")
    marker = st.get("lastEventTime", "")
    if stage == Stage.ACCEPTED:
        return [run_event(types.RUN_ACCEPTED, NAME, ref, 0, tool_call_id=f"redrive-{marker}")]
    if stage == Stage.MODEL:
        return [run_event(types.LLM_REQUESTED, NAME, ref, step, tool_call_id=f"redrive-{marker}")]
    if stage == Stage.TOOLS:
        pending = set(st.get("pendingToolCalls") or [])
        return [
            tool_requested(NAME, ref, step, c, suffix=f"-redrive-{marker}")
            for c in load(deps.store, run).tool_calls(step)
            if c.id in pending and c.id not in (st.get("awaitingApproval") or [])
        ]
    if stage == Stage.FINALIZING:
        error = st.get("error")
        if error:
            return [
                run_event(
                    types.RUN_FAILED, NAME, ref, step, dict(error), tool_call_id=f"redrive-{marker}"
                )
            ]
        return [
            run_event(
                types.RUN_COMPLETED,
                NAME,
                ref,
                step,
                {"result": st.get("result", "")},
                tool_call_id=f"redrive-{marker}",
            )
        ]
    return []


def _timed_out(ref: RunRef, step: int, timeout: float) -> CloudEvent:
    message = f"the run exceeded its timeout ({timeout:g}s)"
    return run_event(types.RUN_TIMEDOUT, NAME, ref, step, {"reason": "Timeout", "message": message})


def _ids(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def _requests(deps: Deps, run: Resource) -> list[CloudEvent]:
    """What a person asked for with annotations (``baton cancel``/``approve`` or kubectl)."""
    notes = run["metadata"].get("annotations") or {}
    st = run.get("status") or {}
    ref, step = RunRef.of(run), int(st.get("step", 0))
    if notes.get(CANCEL) and st.get("stage") != Stage.FINALIZING:
        by = notes[CANCEL] if notes[CANCEL] not in ("true", "yes") else "a user"
        data = {"reason": "Cancelled", "message": f"cancelled by {by}"}
        return [run_event(types.RUN_CANCELLED, NAME, ref, step, data)]
    waiting = set(st.get("awaitingApproval") or [])
    decided = {
        **{c: True for c in _ids(notes.get(APPROVE))},
        **{c: False for c in _ids(notes.get(REJECT))},
    }
    if not waiting or not decided.keys() & waiting:
        return []
    by = notes.get(APPROVED_BY) or "a reviewer"
    return [
        run_event(
            types.TOOL_APPROVED,
            NAME,
            ref,
            step,
            {
                "toolCall": call_data(c),
                "approved": decided[c.id],
                "by": by,
            },
            tool_call_id=f"{c.id}-approval",
        )
        for c in load(deps.store, run).tool_calls(step)
        if c.id in waiting and c.id in decided
    ]


def _check(
    deps: Deps,
    run: Resource,
    settings: Settings,
    now: float,
    agents: dict[tuple[str, str], Resource | None],
) -> list[CloudEvent]:
    st = run.get("status") or {}
    phase = st.get("phase", "")
    created = parse_time(run["metadata"].get("creationTimestamp")) or now
    timeout = _timeout(run, agents)
    requested = _requests(deps, run)
    if requested:
        return requested
    if phase in ("", "Pending"):
        if st.get("stage") == Stage.FINALIZING:
            return _redrive(deps, run, now)
        if phase == "Pending" and timeout and now - created > timeout:
            return [_timed_out(RunRef.of(run), 0, timeout)]  # its references never came
        if phase == "Pending" or now - created > settings.unseen_after:
            return [resource_event("ADDED", run)]
        return []
    if phase == "Serving" and st.get("stage") == Stage.INPUT:
        return _serving(deps, run, now)
    ref, step = RunRef.of(run), int(st.get("step", 0))
    # Server mode: the timeout bounds each exchange, not the whole session.
    started = parse_time(st.get("exchangeStartedAt") or st.get("startedAt")) or created
    if timeout and now - started > timeout and st.get("stage") != Stage.FINALIZING:
        return [_timed_out(ref, step, timeout)]
    last = parse_time(st.get("lastEventTime")) or started
    if phase != "AwaitingApproval" and now - last > settings.stalled_after(st.get("stage")):
        return _redrive(deps, run, now)
    return []


def _serving(deps: Deps, run: Resource, now: float) -> list[CloudEvent]:
    """A Serving run: wake it for queued input (``baton send`` only writes the store), or end
    it once it has been idle longer than its idleTTL."""
    st = run["status"]
    ref, step = RunRef.of(run), int(st.get("step", 0))
    marker = st.get("lastEventTime", "")
    index = next_input(st)
    if index:
        entry = dict(deps.store.read_journal(run)).get(input_key(index)) or {}
        text = str(entry.get("content", ""))
        return [input_event(ref, step, index, text, NAME, redrive=marker)]
    ttl = idle_ttl(run)
    idle = now - (parse_time(st.get("lastEventTime")) or now)
    if idle <= ttl:
        return []
    data = {
        "result": st.get("result", ""),
        "reason": "IdleTimeout",
        "message": f"no input for {ttl:g}s (idleTTL): the session ended",
    }
    return [run_event(types.RUN_COMPLETED, NAME, ref, step, data, tool_call_id="idle")]


def _housekeep(
    deps: Deps, finished: list[Resource], agents: dict[tuple[str, str], Resource | None]
) -> None:
    by_agent: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for run in finished:
        if run["spec"].get("cleanup") == "delete":
            _delete(deps, run)
            continue
        by_agent[
            (run["metadata"].get("namespace", "default"), run["spec"]["agentRef"]["name"])
        ].append(run)
    for key, runs in by_agent.items():
        agent = agents.get(key)
        limit = int((agent or {}).get("spec", {}).get("runHistoryLimit", DEFAULT_HISTORY_LIMIT))
        runs.sort(key=lambda r: r["status"].get("completedAt", ""))
        for old in runs[: max(len(runs) - limit, 0)]:
            _delete(deps, old)


def _delete(deps: Deps, run: Resource) -> None:
    meta = run["metadata"]
    with contextlib.suppress(NotFound):
        deps.store.delete(KIND, meta.get("namespace", "default"), meta["name"])


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Re-emit what stalled runs wait for, enforce timeouts, prune finished runs."""
    settings = Settings(data_of(event) if event.get_data() else {})
    now = deps.clock.now()
    runs = deps.store.list(KIND)
    agents: dict[tuple[str, str], Resource | None] = {}
    for run in runs:
        key = (run["metadata"].get("namespace", "default"), run["spec"]["agentRef"]["name"])
        if key not in agents:
            try:
                agents[key] = deps.store.get("Agent", *key)
            except NotFound:
                agents[key] = None
    out: list[CloudEvent] = []
    finished = []
    for run in runs:
        if is_terminal(run):
            finished.append(run)
        else:
            out.extend(_check(deps, run, settings, now, agents))
    _housekeep(deps, finished, agents)
    return out
