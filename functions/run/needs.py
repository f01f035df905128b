"""The events a run still needs, as a function of its stored state alone.

Normal flow, a redelivered stale event, sweep and a restart all publish these, with
the same ids (``events.envelope.event_id``: run uid, step, type, key), and every bus
keeps the first of each (source + id). Whatever emit was lost after a commit is
published again by the next of those to look at the run, without a threshold to wait.
Calls held by a live claim are not needed: their owner is on them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from events import types
from events.envelope import CloudEvent, RunRef, event_id, run_event, run_source
from functions.ports import Resource
from functions.run.claims import holder, is_live, llm_claim, tool_claim
from functions.run.status import TERMINAL_PHASES, Stage

__all__ = ["Need", "finished_data", "identities", "needs", "outcome_of", "terminal_type"]

# What finalize is asked to do for each recorded outcome phase.
_TERMINAL: Final = {
    "Succeeded": types.RUN_COMPLETED,
    "Failed": types.RUN_FAILED,
    "Cancelled": types.RUN_CANCELLED,
}


def terminal_type(outcome: Mapping[str, Any]) -> str:
    """The terminal request type for a recorded outcome (``status.outcome``)."""
    if outcome.get("phase") == "Failed" and outcome.get("reason") == "Timeout":
        return types.RUN_TIMEDOUT
    return _TERMINAL.get(str(outcome.get("phase")), types.RUN_FAILED)


def outcome_of(status: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded outcome of a Finalizing run (runs recorded before outcomes existed: derived)."""
    if status.get("outcome"):
        return dict(status["outcome"])
    error = status.get("error")
    if error:
        return {
            "phase": "Failed",
            "reason": error.get("reason", ""),
            "message": error.get("message", ""),
        }
    return {"phase": "Succeeded", "reason": "Completed", "message": "the agent answered"}


def finished_data(run: Resource) -> dict[str, Any]:
    """``run.finished``'s data: the run's end as its record says it."""
    st = run.get("status") or {}
    spec = run.get("spec") or {}
    data: dict[str, Any] = {
        "phase": st.get("phase"),
        "result": st.get("result", ""),
        "error": st.get("error"),
        "tokenUsage": st.get("tokenUsage"),
        "routing": spec.get("routing"),
    }
    if spec.get("mode") == "server":
        data["mode"] = "server"
    return data


def _redrive(st: Mapping[str, Any], claim: str, key: str | None = None) -> str | None:
    """The key of a need whose claim lapsed: a new id per lapse, so buses let it through.

    The first delivery's id was seen (its owner took it, then died); the lapsed claim's
    owner names this re-drive, the same for everyone who looks at the record.
    """
    owner = holder(st, claim)
    if owner is None:
        return key
    return f"{key}/lapsed-{owner}" if key else f"lapsed-{owner}"


def _tools(st: Mapping[str, Any], step: int, now: float) -> list[Need]:
    out: list[Need] = []
    delegated = st.get("delegations") or {}
    approvals = st.get("approvals") or {}
    asked = set(st.get("awaitingApproval") or [])
    queued = set(st.get("queuedCalls") or [])
    for call_id in st.get("pendingToolCalls") or []:
        if call_id in delegated or is_live(st, tool_claim(step, call_id), now):
            continue  # a sub-agent run or a live claim holds it
        data = {"toolCallId": call_id}
        if call_id in asked:
            if call_id in approvals:
                out.append(Need(types.TOOL_APPROVED, step, data, key=call_id))
            continue  # waits for a person
        # A call waiting for a sub-agent slot is tried again each time a call of the step
        # closes (a slot may have freed): the count of closed calls makes that a new need.
        key = f"{call_id}/after-{st.get('toolCalls', 0)}" if call_id in queued else call_id
        key = _redrive(st, tool_claim(step, call_id), key)
        out.append(Need(types.TOOL_REQUESTED, step, data, key=key))
    return out


def _serving(st: Mapping[str, Any], step: int) -> list[Need]:
    out: list[Need] = []
    if step >= 1 and st.get("result") is not None:
        out.append(Need(types.RUN_REPLIED, step, {"result": st.get("result", "")}))
    taken = int(st.get("inputsTaken", 0))
    if int(st.get("inputs", 0)) > taken:
        index = taken + 1
        out.append(Need(types.RUN_INPUT_RECEIVED, step, {"index": index}, key=f"input-{index}"))
    return out


@dataclass(frozen=True)
class Need:
    """One event a run waits for, before it is built (building a CloudEvent costs)."""

    type: str
    step: int
    data: Mapping[str, Any] | None = None
    key: str | None = None

    def identity(self, ref: RunRef) -> str:
        """The dedupe key (source + id) the built event will have."""
        return f"{run_source(ref)}\n{event_id(ref, self.step, self.type, self.key)}"


def _traceparent(run: Resource) -> str | None:
    trace = (run.get("status") or {}).get("traceID")
    if not trace:
        return None
    # One trace per run (its id is the run's uid): every event joins it, whoever emits it.
    span = str(run["metadata"].get("uid", "")).replace("-", "")[:16].ljust(16, "0")
    return f"00-{trace}-{span}-01"


def needs(run: Resource, now: float, *, skip: Collection[str] = ()) -> list[CloudEvent]:
    """Every event ``run`` waits for now, but those whose identity is in ``skip``.

    None while the run is Pending: the watch announces it.
    """
    ref = RunRef.of(run)
    wanted = [n for n in _needs(run, now) if not skip or n.identity(ref) not in skip]
    if not wanted:
        return []
    traceparent = _traceparent(run)
    return [
        run_event(n.type, ref, n.step, n.data, key=n.key, traceparent=traceparent) for n in wanted
    ]


def identities(run: Resource, now: float) -> set[str]:
    """The dedupe keys of ``needs(run, now)``, without building the events."""
    ref = RunRef.of(run)
    return {n.identity(ref) for n in _needs(run, now)}


def _needs(run: Resource, now: float) -> list[Need]:
    st = run.get("status") or {}
    step, stage = int(st.get("step", 0)), st.get("stage")
    if st.get("phase") in TERMINAL_PHASES:
        return [Need(types.RUN_FINISHED, step, finished_data(run))]
    if stage == Stage.ACCEPTED:
        return [Need(types.RUN_ACCEPTED, 0)]
    if stage == Stage.MODEL:
        if is_live(st, llm_claim(step), now):
            return []
        return [Need(types.LLM_REQUESTED, step, key=_redrive(st, llm_claim(step)))]
    if stage == Stage.TOOLS:
        return _tools(st, step, now)
    if stage == Stage.FINALIZING:
        outcome = outcome_of(st)
        data = {"reason": outcome.get("reason", ""), "message": outcome.get("message", "")}
        return [Need(terminal_type(outcome), step, data)]
    if stage == Stage.INPUT:
        return _serving(st, step)
    return []
