"""call_tool: run one tool call the model recorded, under the agent's policy, claimed first.

What runs comes from the run's record, never from the event: the tool's name and
input from the model's recorded reply, the approval of an ``ask`` tool from the
run's ``status.approvals`` (what sweep took from ``baton approve``). Deny wins and
goes back to the model as an error result; ``ask`` parks the run in
AwaitingApproval. A call is claimed before it runs (``functions.run.claims``) and
its result, the claim's release and the close of the call are one commit. A tool's
error is a result the model sees (``is_error``); only ``TransientError`` is retried,
with the same idempotency key.
"""

from __future__ import annotations

import logging
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events.envelope import CloudEvent, RunRef
from events.errors import PermanentError, TransientError
from events.run_events import decode
from functions.ports import Deps, NotFound, ToolCall, ToolContext, ToolResult
from functions.run import claims, policy
from functions.run.lease import held
from functions.run.status import Phase, Stage, get_run, set_condition
from functions.run.step import Outcome, advance, follow_up, view_of
from functions.run.toolstep import close_call, completed_event, result_entry
from functions.run.transcript import Transcript
from functions.run.view import RunView

__all__ = ["decide_claim", "decide_result", "handle"]

NAME = "call_tool"
log = logging.getLogger(__name__)


def recorded_call(view: RunView, step: int, call_id: str) -> ToolCall | None:
    """The call ``call_id`` as the model made it at ``step``, if the run still waits for it."""
    st = view.status
    if (
        view.stage != Stage.TOOLS
        or view.step != step
        or call_id not in (st.get("pendingToolCalls") or [])
        or call_id in (st.get("delegations") or {})
    ):
        return None
    return next((c for c in view.transcript.tool_calls(step) if c.id == call_id), None)


def _result_of(entry: dict[str, Any]) -> ToolResult:
    return ToolResult(str(entry.get("content", "")), is_error=bool(entry.get("is_error")))


def _closed(view: RunView, step: int, call: ToolCall, result: ToolResult) -> Outcome:
    st = view.edit()
    claims.release(st, claims.tool_claim(step, call.id))
    close_call(st, step, call.id, view.now)
    record = completed_event(view.ref, step, call.id)
    return Outcome(st, result_entry(step, call.id, call.name, result), (record,))


def decide_claim(view: RunView, step: int, call_id: str, owner: str) -> Outcome:
    """Policy first (deny, ask, a recorded decision), then claim the call for ``owner``."""
    call = recorded_call(view, step, call_id)
    if call is None:
        return Outcome()
    recorded = view.transcript.tool_result(step, call_id)
    if recorded is not None:  # ran, but the close did not land: close it with that result
        return _closed(view, step, call, _result_of(recorded))
    context = view.transcript.context
    verdict = policy.decide(call.name, context.get("toolPolicy"), context.get("overridePolicy"))
    if verdict == "deny":
        denied = ToolResult(f"tool {call.name} is denied by the agent's tool policy", is_error=True)
        return _closed(view, step, call, denied)
    if verdict == "ask":
        decision = (view.status.get("approvals") or {}).get(call.id)
        if decision is None:
            return _park(view, call)
        if not decision.get("approved"):
            by = decision.get("by") or "a reviewer"
            rejected = ToolResult(f"tool {call.name} was rejected by {by}", is_error=True)
            return _closed(view, step, call, rejected)
    key = claims.tool_claim(step, call.id)
    if claims.is_live(view.status, key, view.now):
        return Outcome(idle="busy")
    st = view.edit()
    claims.claim(st, key, owner, view.now)
    return Outcome(st)


def _park(view: RunView, call: ToolCall) -> Outcome:
    """Hold the call for a person's decision (``baton approve``) and say so on the run."""
    waiting = list(view.status.get("awaitingApproval") or [])
    if call.id in waiting:
        return Outcome(idle="busy")
    st = view.edit()
    st.update(phase=Phase.AWAITING_APPROVAL, awaitingApproval=[*waiting, call.id])
    set_condition(
        st,
        "ToolApproved",
        False,
        "AwaitingApproval",
        f"tool {call.name} (call {call.id}) waits for approval",
        view.now,
    )
    return Outcome(st)


def decide_result(view: RunView, step: int, call_id: str, result: ToolResult) -> Outcome:
    """Record what the tool returned: a result, a sub-agent now holding the call, or a wait."""
    call = recorded_call(view, step, call_id)
    if call is None:
        return Outcome()
    recorded = view.transcript.tool_result(step, call_id)
    if recorded is not None:  # the first result recorded wins (a lapsed claim's second run)
        return _closed(view, step, call, _result_of(recorded))
    if not result.pending:
        return _closed(view, step, call, result)
    st = view.edit()
    claims.release(st, claims.tool_claim(step, call_id))
    if result.delegated_to is not None:
        delegations = dict(st.get("delegations") or {})
        delegations[call_id] = dict(result.delegated_to)
        st["delegations"] = delegations
        st["queuedCalls"] = [c for c in st.get("queuedCalls") or [] if c != call_id]
    else:
        st["queuedCalls"] = sorted({*(st.get("queuedCalls") or []), call_id})
    return Outcome(st)


def decide_release(view: RunView, step: int, call_id: str, owner: str) -> Outcome:
    """Free the claim after a transient failure, so the retry can claim it again."""
    key = claims.tool_claim(step, call_id)
    if claims.holder(view.status, key) != owner:
        return Outcome()
    st = view.edit()
    claims.release(st, key)
    return Outcome(st, idle="busy")


def _run_tool(deps: Deps, view: RunView, call: ToolCall, step: int) -> ToolResult:
    run, ref = view.run, view.ref
    agent_name = str(view.transcript.context.get("agent", ""))
    try:
        agent = deps.store.get("Agent", ref.namespace, agent_name)
    except NotFound:
        return ToolResult(f"tool {call.name}: the agent {agent_name} no longer exists", True)
    ctx = ToolContext(
        run=run,
        agent=agent,
        idempotency_key=f"{ref.uid}/{step}/{NAME}/{call.id}",
        store=deps.store,
        step_calls=tuple(view.transcript.tool_calls(step)),
    )
    try:
        return deps.tools.call(call, ctx)
    except TransientError:
        raise
    except PermanentError as exc:
        return ToolResult(f"tool {call.name} failed: {exc.message}", is_error=True)
    except Exception as exc:  # a tool's own bug: the model is told, the run goes on
        log.exception("tool %s failed on run %s", call.name, ref.key)
        return ToolResult(
            f"tool {call.name} failed with an internal error ({type(exc).__name__})", is_error=True
        )


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Claim one recorded tool call, run it, and record its result (closing the call)."""
    ev = decode(event)
    run = get_run(deps, ev.run)
    if run is None:
        return []
    ref, step, call_id, owner = RunRef.of(run), ev.step, ev.tool_call_id, claims.new_owner()
    transcript = None
    if (run.get("status") or {}).get("stage") == Stage.TOOLS:
        transcript = Transcript(deps.store.read_journal(run))
    claimed = advance(
        deps,
        ref,
        lambda v: decide_claim(v, step, call_id, owner),
        read=run,
        transcript=transcript,
    )
    after = claimed.after
    key = claims.tool_claim(step, call_id)
    if after is None or claims.holder(after.get("status") or {}, key) != owner:
        return follow_up(deps, claimed, event)
    # The claim wrote no journal: the transcript is still the run's (re-read after a conflict).
    view = view_of(deps, after, transcript if claimed.before is run else None)
    call = recorded_call(view, step, call_id)
    if call is None:
        return follow_up(deps, claimed, event)
    try:
        with held(deps, ref, key, owner):
            result = _run_tool(deps, view, call, step)
    except TransientError:
        advance(deps, ref, lambda v: decide_release(v, step, call_id, owner))
        raise
    recorded = advance(
        deps,
        ref,
        lambda v: decide_result(v, step, call_id, result),
        read=after,
        transcript=view.transcript,
    )
    return [*follow_up(deps, claimed, event), *follow_up(deps, recorded, event)]
