"""call_llm: one model call for the run's current step.

The reply is recorded in the journal before status moves on, so a crash after
the call is repaired by redelivery reading the recorded reply, never by asking
the model twice. Tokens are added in the same status write that leaves the
Model stage, so they are counted once however often the event arrives.
"""

from __future__ import annotations

from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.envelope import CloudEvent, RunRef, run_event, run_ref_of, step_of
from events.errors import PermanentError, TransientError
from functions import session
from functions.agentrun import Stage, get_run, parse_duration, parse_time, set_condition, transact
from functions.ports import Deps, ModelReply, ModelRequest, NotFound, Resource
from functions.session import is_server
from functions.stop_reasons import classify_stop
from functions.toolstep import tool_requested
from functions.transcript import Transcript, load, reply_entry, reply_from_entry, reply_key

__all__ = ["handle"]

NAME = "call_llm"
# Stop reasons after which the next step continues the same answer (when not failed).
CONTINUED: Final = frozenset({"pause_turn", "max_tokens"})


def _model(deps: Deps, ref: RunRef, name: str) -> Resource:
    """The run's Model; gone mid-run is a reason a person can act on, not a crash."""
    try:
        return deps.store.get("Model", ref.namespace, name)
    except NotFound:
        raise TransientError(
            f"Model {ref.namespace}/{name} was deleted while run {ref.name} needs it",
            reason="ModelNotFound",
        ) from None


def _limit_breach(run: Resource, transcript: Transcript, step: int, now: float) -> tuple[str, str]:
    limits = transcript.context.get("limits") or {}
    max_turns = int(limits.get("maxTurns", 10))
    # Turns and time count per exchange: a server-mode session answers input after input.
    if step - transcript.exchange_start(step) + 1 > max_turns:
        return "MaxTurnsExceeded", f"no final answer within maxTurns ({max_turns})"
    timeout = parse_duration(run["spec"].get("timeout") or limits.get("timeout"))
    st = run.get("status", {})
    started = parse_time(st.get("exchangeStartedAt") or st.get("startedAt"))
    if timeout and started and now - started > timeout:
        return "Timeout", f"the run exceeded its timeout ({timeout:g}s)"
    max_tokens = limits.get("maxTokens")
    total = run.get("status", {}).get("tokenUsage", {}).get("total", 0)
    if max_tokens and total >= int(max_tokens):
        return "TokenBudgetExceeded", f"used {total} tokens of limits.maxTokens {max_tokens}"
    return "", ""


def _fail(deps: Deps, ref: RunRef, step: int, reason: str, message: str) -> list[CloudEvent]:
    def record(current: Resource, st: dict[str, Any]) -> bool:
        if st.get("stage") != Stage.MODEL or st.get("step") != step:
            return False
        st.update(stage=Stage.FINALIZING, error={"reason": reason, "message": message})
        return True

    if transact(deps, ref, record) is None:
        return []
    kind = types.RUN_TIMEDOUT if reason == "Timeout" else types.RUN_FAILED
    return [run_event(kind, NAME, ref, step, {"reason": reason, "message": message})]


def _ask_model(
    deps: Deps, run: Resource, model: Resource, transcript: Transcript, step: int, ref: RunRef
) -> ModelReply:
    request = ModelRequest(
        system=transcript.system,
        messages=transcript.messages(step),
        tools=transcript.tools,
        max_tokens=int(model["spec"].get("maxTokens", 1024)),
        idempotency_key=f"{ref.uid}/{step}/{NAME}",
    )
    try:
        return deps.models.for_resource(model).complete(request)
    except TransientError as exc:
        _note_retry(deps, ref, step, exc)
        raise


def _note_retry(deps: Deps, ref: RunRef, step: int, exc: TransientError) -> None:
    """Make the retry visible on the run: attempt count and the cause."""
    now = deps.clock.now()

    def note(current: Resource, st: dict[str, Any]) -> bool:
        if st.get("stage") != Stage.MODEL or st.get("step") != step:
            return False
        st["modelAttempts"] = int(st.get("modelAttempts", 0)) + 1
        set_condition(st, "ModelAvailable", False, exc.reason, exc.message, now)
        return True

    transact(deps, ref, note)


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Call the model for step n (or reuse its recorded reply) and emit what follows."""
    ref, step = run_ref_of(event), step_of(event)
    run = get_run(deps, ref)
    status = (run or {}).get("status") or {}
    if run is not None and status.get("stage") == Stage.INPUT and status.get("step") == step:
        return _replay_reply(event, deps, run, step)
    if run is None or status.get("stage") != Stage.MODEL or status.get("step") != step:
        return []
    transcript = load(deps.store, run)
    entry = transcript.reply(step)
    if entry is None:
        reason, message = _limit_breach(run, transcript, step, deps.clock.now())
        if reason:
            return _fail(deps, ref, step, reason, message)
        model_name = transcript.context.get("model", "")
        model = _model(deps, ref, model_name)
        reply = _ask_model(deps, run, model, transcript, step, ref)
        if not deps.store.append_journal(run, reply_key(step), reply_entry(reply)):
            reply = reply_from_entry(load(deps.store, run).reply(step) or {})
    else:
        reply = reply_from_entry(entry)
        model = _model(deps, ref, str(transcript.context.get("model", "")))
    text = _answer_text(transcript, step, reply)
    traceparent = event.get_extension("traceparent")
    if is_server(run):
        return _record_server(deps, ref, step, reply, model, traceparent, text, run, transcript)
    return _record(deps, ref, step, reply, model, traceparent, text, run)


def _replay_reply(event: BaseCloudEvent, deps: Deps, run: Resource, step: int) -> list[CloudEvent]:
    """A redelivery after a server-mode answer was recorded: emit its events again (same ids).

    Nothing else would: a Serving run waits for input, so sweep sees nothing stalled.
    """
    transcript = load(deps.store, run)
    entry = transcript.reply(step)
    if entry is None or not is_server(run):
        return []
    text = _answer_text(transcript, step, reply_from_entry(entry))
    traceparent = event.get_extension("traceparent")
    return session.reply_events(deps, RunRef.of(run), step, text, run, transcript, traceparent)


def _answer_text(transcript: Transcript, step: int, reply: ModelReply) -> str:
    """The reply's text, after the text of the turns it continues (pause_turn, max_tokens)."""
    parts = [reply.text]
    k, start = step - 1, transcript.exchange_start(step)
    while k >= start and (entry := transcript.reply(k)) and entry.get("stop_reason") in CONTINUED:
        parts.insert(0, reply_from_entry(entry).text)
        k -= 1
    return "".join(parts)


def _count(deps: Deps, st: dict[str, Any], reply: ModelReply, model: Resource, now: float) -> None:
    """Add the reply's tokens and cost to the status (in the write that leaves the Model stage)."""
    usage = dict(st.get("tokenUsage") or {})
    u = reply.usage
    usage["input"] = usage.get("input", 0) + u.input
    usage["output"] = usage.get("output", 0) + u.output
    usage["cacheRead"] = usage.get("cacheRead", 0) + u.cache_read
    usage["cacheCreation"] = usage.get("cacheCreation", 0) + u.cache_creation
    usage["total"] = usage["input"] + usage["output"] + usage["cacheRead"] + usage["cacheCreation"]
    st["tokenUsage"] = usage
    st["costEstimate"] = deps.models.cost(model, usage)
    if any(c["type"] == "ModelAvailable" for c in st.get("conditions", [])):
        set_condition(st, "ModelAvailable", True, "Replied", "the model replied", now)


def _record_server(
    deps: Deps,
    ref: RunRef,
    step: int,
    reply: ModelReply,
    model: Resource,
    traceparent: Any,
    text: str,
    run: Resource,
    transcript: Transcript,
) -> list[CloudEvent]:
    """Server mode: a final answer is a reply and the run serves again; the rest as in task mode."""
    spec = model["spec"]
    decision = classify_stop(reply, str(spec.get("onMaxTokens") or "fail"), spec.get("maxTokens"))
    if decision.kind != "answer":
        return _record(deps, ref, step, reply, model, traceparent, text, run)
    now = deps.clock.now()

    def serve(current: Resource, st: dict[str, Any]) -> bool:
        if st.get("stage") != Stage.MODEL or st.get("step") != step:
            return False
        _count(deps, st, reply, model, now)
        st.update(phase="Serving", stage=Stage.INPUT, result=text)
        return True

    written = transact(deps, ref, serve, read=run)
    if written is None:
        return []
    return session.reply_events(deps, ref, step, text, written, transcript, traceparent)


def _record(
    deps: Deps,
    ref: RunRef,
    step: int,
    reply: ModelReply,
    model: Resource,
    traceparent: Any,
    text: str,
    read: Resource | None = None,
) -> list[CloudEvent]:
    spec = model["spec"]
    decision = classify_stop(reply, str(spec.get("onMaxTokens") or "fail"), spec.get("maxTokens"))
    outcome, reason, message = decision.kind, decision.reason, decision.message
    calls = reply.tool_calls
    now = deps.clock.now()

    def advance(current: Resource, st: dict[str, Any]) -> bool:
        if st.get("stage") != Stage.MODEL or st.get("step") != step:
            return False
        _count(deps, st, reply, model, now)
        if outcome == "tool_calls":
            st.update(stage=Stage.TOOLS, pendingToolCalls=[c.id for c in calls])
        elif outcome == "continue":
            st.update(step=step + 1)
        elif outcome == "answer":
            st.update(stage=Stage.FINALIZING, result=text)
        else:
            st.update(stage=Stage.FINALIZING, error={"reason": reason, "message": message})
        return True

    if transact(deps, ref, advance, read=read) is None:
        return []
    if outcome == "tool_calls":
        return [tool_requested(NAME, ref, step, c, traceparent=traceparent) for c in calls]
    if outcome == "continue":
        return [run_event(types.LLM_REQUESTED, NAME, ref, step + 1, traceparent=traceparent)]
    if outcome == "answer":
        return [
            run_event(
                types.RUN_COMPLETED,
                NAME,
                ref,
                step,
                {"result": text},
                traceparent=traceparent,
            )
        ]
    if outcome == "fail" and reason:
        return [
            run_event(
                types.RUN_FAILED,
                NAME,
                ref,
                step,
                {"reason": reason, "message": message},
                traceparent=traceparent,
            )
        ]
    raise PermanentError(f"run {ref.key}: unhandled outcome {outcome}")
