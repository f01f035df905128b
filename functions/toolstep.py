"""Closing one tool call of a step; the last one to close asks for the next model turn.

Shared by call_tool (a tool returned) and finalize (a sub-agent run finished and
its answer is its parent's tool result).
"""

from __future__ import annotations

from typing import Any

from events import types
from events.envelope import CloudEvent, RunRef, run_event
from functions.agentrun import Stage, set_condition, transact
from functions.ports import Deps, Resource, ToolCall, ToolResult
from functions.transcript import tool_key

__all__ = ["call_data", "close_call", "record_result", "tool_requested"]


def call_data(call: ToolCall) -> dict[str, Any]:
    """A tool call as the ``toolCall`` member of event data."""
    return {"id": call.id, "name": call.name, "input": dict(call.input)}


def tool_requested(
    transition: str,
    ref: RunRef,
    step: int,
    call: ToolCall,
    *,
    suffix: str = "",
    traceparent: Any = None,
) -> CloudEvent:
    """``tool.requested`` for one call (``suffix`` tells a re-drive's id from the first)."""
    return run_event(
        types.TOOL_REQUESTED,
        transition,
        ref,
        step,
        {"toolCall": call_data(call)},
        tool_call_id=f"{call.id}{suffix}",
        traceparent=traceparent,
    )


def record_result(
    deps: Deps, run: Resource, step: int, call_id: str, name: str, result: ToolResult
) -> None:
    """Write a tool result to the journal once (a redelivery keeps the first)."""
    deps.store.append_journal(
        run,
        tool_key(step, call_id),
        {
            "tool_use_id": call_id,
            "name": name,
            "content": result.content,
            "is_error": result.is_error,
        },
    )


def close_call(
    deps: Deps,
    ref: RunRef,
    step: int,
    call_id: str,
    transition: str,
    traceparent: Any = None,
    *,
    read: Resource | None = None,
) -> list[CloudEvent]:
    """Mark ``call_id`` done; emit ``tool.completed`` and, for the last call, ``llm.requested``."""
    last = False
    now = deps.clock.now()

    def close(current: Resource, st: dict[str, Any]) -> bool:
        nonlocal last
        pending = list(st.get("pendingToolCalls") or [])
        if st.get("stage") != Stage.TOOLS or st.get("step") != step or call_id not in pending:
            return False
        pending.remove(call_id)
        st["pendingToolCalls"] = pending
        st["toolCalls"] = int(st.get("toolCalls", 0)) + 1
        waiting = [c for c in st.get("awaitingApproval") or [] if c != call_id]
        st["awaitingApproval"] = waiting
        if st.get("phase") == "AwaitingApproval" and not waiting:
            st["phase"] = "Running"
            set_condition(
                st, "ToolApproved", True, "Decided", "every tool call asked about was decided", now
            )
        last = not pending
        if last:
            st.update(step=step + 1, stage=Stage.MODEL)
        return True

    if transact(deps, ref, close, read=read) is None:
        return []
    events = [
        run_event(
            types.TOOL_COMPLETED,
            transition,
            ref,
            step,
            {"toolCallId": call_id},
            tool_call_id=call_id,
            traceparent=traceparent,
        )
    ]
    if last:
        events.append(
            run_event(types.LLM_REQUESTED, transition, ref, step + 1, traceparent=traceparent)
        )
    return events
