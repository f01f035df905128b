"""call_tool: run one tool call under the agent's policy and record its result.

Deny wins and goes back to the model as an error result; ``ask`` parks the run
in AwaitingApproval until ``tool.approved`` arrives. The result is journaled
before the call is closed, so a redelivery never runs the tool twice once it
returned; the idempotency key lets tools with effects dedupe the window before.
"""

from __future__ import annotations

from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.envelope import CloudEvent, RunRef, data_of, run_ref_of, step_of
from events.errors import MalformedEvent
from functions import policy
from functions.agentrun import Stage, get_run, set_condition, transact
from functions.ports import Deps, Resource, ToolCall, ToolContext, ToolResult
from functions.toolstep import close_call, record_result
from functions.transcript import Transcript, load

__all__ = ["handle"]

NAME = "call_tool"


def _tool_call(event: BaseCloudEvent) -> ToolCall:
    raw = data_of(event).get("toolCall")
    if not isinstance(raw, dict) or not raw.get("id") or not raw.get("name"):
        raise MalformedEvent(f"event {event.get_id()}: data.toolCall needs id and name")
    return ToolCall(id=str(raw["id"]), name=str(raw["name"]), input=raw.get("input") or {})


def _park(deps: Deps, ref: RunRef, step: int, call: ToolCall) -> list[CloudEvent]:
    """Hold the call for a person's approval (``baton approve``) and say so on the run."""
    now = deps.clock.now()

    def ask(current: Resource, st: dict[str, Any]) -> bool:
        waiting = list(st.get("awaitingApproval") or [])
        if st.get("stage") != Stage.TOOLS or st.get("step") != step or call.id in waiting:
            return False
        waiting.append(call.id)
        st.update(phase="AwaitingApproval", awaitingApproval=waiting)
        set_condition(
            st,
            "ToolApproved",
            False,
            "AwaitingApproval",
            f"tool {call.name} (call {call.id}) waits for approval",
            now,
        )
        return True

    transact(deps, ref, ask)
    return []


def _execute(
    deps: Deps,
    run: Resource,
    transcript: Transcript,
    call: ToolCall,
    event: BaseCloudEvent,
    step: int,
) -> ToolResult | None:
    context = transcript.context
    verdict = policy.decide(call.name, context.get("toolPolicy"), context.get("overridePolicy"))
    if verdict == "deny":
        return ToolResult(f"tool {call.name} is denied by the agent's tool policy", is_error=True)
    if verdict == "ask":
        if event.get_type() != types.TOOL_APPROVED:
            return None
        if not data_of(event).get("approved", False):
            by = data_of(event).get("by") or "a reviewer"
            return ToolResult(f"tool {call.name} was rejected by {by}", is_error=True)
    ref = RunRef.of(run)
    agent = deps.store.get("Agent", ref.namespace, str(context.get("agent", "")))
    ctx = ToolContext(
        run=run, agent=agent, idempotency_key=f"{ref.uid}/{step}/{NAME}/{call.id}", store=deps.store
    )
    return deps.tools.call(call, ctx)


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Run (or reuse the recorded result of) one tool call and close it."""
    ref, step, call = run_ref_of(event), step_of(event), _tool_call(event)
    run = get_run(deps, ref)
    status = (run or {}).get("status") or {}
    if (
        run is None
        or status.get("stage") != Stage.TOOLS
        or status.get("step") != step
        or call.id not in (status.get("pendingToolCalls") or [])
    ):
        return []
    transcript = load(deps.store, run)
    if transcript.tool_result(step, call.id) is None:
        result = _execute(deps, run, transcript, call, event, step)
        if result is None:
            return _park(deps, ref, step, call)
        if result.pending:
            return []  # a sub-agent run will close this call when it finishes
        record_result(deps, run, step, call.id, call.name, result)
    traceparent = event.get_extension("traceparent")
    return close_call(deps, ref, step, call.id, NAME, traceparent, read=run)
