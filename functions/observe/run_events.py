"""What a change of an AgentRun's status is worth telling a person, as Kubernetes Events.

``status_events(before, after)`` is pure: it compares two statuses and returns the Events
``kubectl describe agentrun`` should show (reason in CamelCase, a message a person reads).
Phase changes and new or changed conditions are events; so are notable steps that only
show as counters (a model call retried) and journal entries (a tool denied by policy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = ["RunEvent", "journal_events", "status_events"]

NORMAL: Final = "Normal"
WARNING: Final = "Warning"
# Conditions whose change a phase event already tells (Ready mirrors the terminal phase).
_SILENT_CONDITIONS: Final = frozenset({"Ready"})
# A False condition that is a step of the run's life, not something wrong.
_BENIGN_FALSE: Final = frozenset({"AwaitingApproval", "Posting"})


@dataclass(frozen=True)
class RunEvent:
    """One Event about a run, before it is recorded (and deduplicated)."""

    reason: str
    message: str
    type: Literal["Normal", "Warning"] = "Normal"


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in status.get("conditions") or [] if isinstance(c, dict)}


def _finished(status: Mapping[str, Any]) -> str:
    usage = status.get("tokenUsage") or {}
    turns, calls = status.get("step", 0), status.get("toolCalls", 0)
    return (
        f"finished in {status.get('durationMs', 0)} ms: "
        f"{turns} model turn{'' if turns == 1 else 's'}, "
        f"{calls} tool call{'' if calls == 1 else 's'}, {usage.get('total', 0)} tokens, "
        f"cost ${status.get('costEstimate', '0')}"
    )


def _phase_event(old: str, new: str, status: Mapping[str, Any], agent: str) -> RunEvent | None:
    error = status.get("error") or {}
    if new == "Running":
        if old == "AwaitingApproval":
            return RunEvent("Resumed", "every tool call asked about was decided; the run goes on")
        return RunEvent(
            "Started", f"the run started (agent {agent})" if agent else "the run started"
        )
    if new == "Serving":
        return RunEvent("Serving", "the session waits for input")
    if new == "Succeeded":
        reason = str(error.get("reason") or "") if status.get("error") else ""
        return RunEvent(reason or "Succeeded", _finished(status))
    if new == "Failed":
        message = str(error.get("message") or "the run failed")
        return RunEvent(str(error.get("reason") or "Failed"), message, WARNING)
    if new == "Cancelled":
        return RunEvent("Cancelled", str(error.get("message") or "the run was cancelled"), WARNING)
    return None  # Pending and AwaitingApproval are told by their condition


def status_events(
    before: Mapping[str, Any] | None, after: Mapping[str, Any], agent: str = ""
) -> list[RunEvent]:
    """The Events that the change from ``before`` to ``after`` is worth (in order)."""
    before = before or {}
    events: list[RunEvent] = []
    old_conds, new_conds = _conditions(before), _conditions(after)
    retried = int(after.get("modelAttempts", 0) or 0) > int(before.get("modelAttempts", 0) or 0)
    for type_, cond in new_conds.items():
        prev = old_conds.get(type_)
        if type_ in _SILENT_CONDITIONS:
            continue
        if prev is not None and (prev.get("status"), prev.get("reason"), prev.get("message")) == (
            cond.get("status"),
            cond.get("reason"),
            cond.get("message"),
        ):
            continue
        reason, message = str(cond.get("reason") or type_), str(cond.get("message") or "")
        if type_ == "ModelAvailable" and cond.get("status") == "False" and retried:
            continue  # told below as a retry, which repeats (and counts) on every attempt
        if type_ == "Delivered" and cond.get("status") == "True":
            reason = "Delivered"
        warn = cond.get("status") == "False" and reason not in _BENIGN_FALSE
        events.append(RunEvent(reason, message, WARNING if warn else NORMAL))
    if retried:
        cond = new_conds.get("ModelAvailable") or {}
        cause = f"{cond.get('reason', 'Error')}: {cond.get('message', '')}".rstrip(": ")
        events.append(
            RunEvent("RetryingModel", f"the model call failed ({cause}); retrying", WARNING)
        )
    old_phase, new_phase = str(before.get("phase") or ""), str(after.get("phase") or "")
    if new_phase != old_phase:
        event = _phase_event(old_phase, new_phase, after, agent)
        if event is not None:
            events.append(event)
    return events


def journal_events(key: str, entry: Mapping[str, Any]) -> list[RunEvent]:
    """Events a journal entry is worth: a tool call denied by policy or rejected by a person."""
    if not key.startswith("tool/") or not entry.get("is_error"):
        return []
    content = str(entry.get("content") or "")
    if "denied by the agent's tool policy" in content:
        return [RunEvent("ToolDenied", content, WARNING)]
    if " was rejected by " in content:
        return [RunEvent("ToolRejected", content, WARNING)]
    return []
