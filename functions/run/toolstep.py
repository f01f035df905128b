"""Closing one tool call of a step; the last one to close opens the next model turn.

Pure edits of a status copy, shared by call_tool (a tool returned) and finalize (a
sub-agent run finished and its answer is its parent's tool result).
"""

from __future__ import annotations

from typing import Any

from events import types
from events.envelope import CloudEvent, RunRef, run_event
from functions.ports import ToolResult
from functions.run.status import Phase, Stage, set_condition
from functions.run.transcript import tool_key

__all__ = ["PER_STEP", "close_call", "completed_event", "result_entry"]

# Status fields about the calls of one step, cleared when the step ends.
PER_STEP = ("awaitingApproval", "approvals", "delegations", "queuedCalls")


def result_entry(
    step: int, call_id: str, name: str, result: ToolResult
) -> dict[str, dict[str, Any]]:
    """The journal entry (key -> entry) recording one tool result."""
    return {
        tool_key(step, call_id): {
            "tool_use_id": call_id,
            "name": name,
            "content": result.content,
            "is_error": result.is_error,
        }
    }


def close_call(st: dict[str, Any], step: int, call_id: str, now: float) -> None:
    """Mark ``call_id`` of ``step`` done in ``st``; the last call of the step opens the next."""
    pending = [c for c in st.get("pendingToolCalls") or [] if c != call_id]
    st["pendingToolCalls"] = pending
    st["toolCalls"] = int(st.get("toolCalls", 0)) + 1
    waiting = [c for c in st.get("awaitingApproval") or [] if c != call_id]
    st["awaitingApproval"] = waiting
    st["queuedCalls"] = [c for c in st.get("queuedCalls") or [] if c != call_id]
    if st.get("phase") == Phase.AWAITING_APPROVAL and not waiting:
        st["phase"] = Phase.RUNNING
        set_condition(
            st, "ToolApproved", True, "Decided", "every tool call asked about was decided", now
        )
    if not pending:
        st.update(step=step + 1, stage=Stage.MODEL)
        for field in PER_STEP:
            st.pop(field, None)


def completed_event(ref: RunRef, step: int, call_id: str) -> CloudEvent:
    """``tool.completed``: the record that one call closed (nobody's trigger)."""
    return run_event(types.TOOL_COMPLETED, ref, step, {"toolCallId": call_id}, key=call_id)
