"""call_llm: one model call for the run's current step, claimed before it is made.

The call is claimed in the run's record first (``functions.run.claims``): another
delivery of the same ``llm.requested`` finds the live claim and leaves it alone, and
a call whose owner died is made again (same idempotency key) only after its lease
lapsed. The reply, its tokens and what follows (tool calls, the answer, another turn)
are written in one commit that also drops the claim, so tokens are counted once
however often the event arrives and a recorded reply is never asked for again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events.envelope import CloudEvent, RunRef
from events.errors import PermanentError, TransientError
from events.run_events import decode
from functions import budget as budgets
from functions.ports import Deps, ModelReply, ModelRequest, NotFound, Resource
from functions.run import claims
from functions.run.lease import held as held_lease
from functions.run.session import is_server
from functions.run.status import Phase, Stage, get_run, parse_duration, parse_time, set_condition
from functions.run.step import Outcome, advance, follow_up
from functions.run.stop_reasons import classify_stop
from functions.run.transcript import (
    Transcript,
    answer_text,
    reply_entry,
    reply_from_entry,
    reply_key,
)
from functions.run.usage import answering, count, usage_record
from functions.run.view import RunView

__all__ = ["decide_claim", "decide_failure", "decide_reply", "decide_retry", "handle"]

NAME = "call_llm"


def _model(deps: Deps, ref: RunRef, name: str) -> Resource:
    """The run's Model; gone mid-run is a reason a person can act on, not a crash."""
    try:
        return deps.store.get("Model", ref.namespace, name)
    except NotFound:
        raise TransientError(
            f"Model {ref.namespace}/{name} was deleted while run {ref.name} needs it",
            reason="ModelNotFound",
        ) from None


def _fallbacks(deps: Deps, ref: RunRef, names: list[str]) -> list[Resource]:
    """The Agent's fallback Models that exist (one that does not could not answer anyway)."""
    found = []
    for name in names:
        try:
            found.append(deps.store.get("Model", ref.namespace, name))
        except NotFound:
            continue
    return found


def _limit_breach(view: RunView) -> tuple[str, str]:
    transcript, step = view.transcript, view.step
    limits = transcript.context.get("limits") or {}
    max_turns = int(limits.get("maxTurns", 10))
    # Turns and time count per exchange: a server-mode session answers input after input.
    if step - transcript.exchange_start(step) + 1 > max_turns:
        return "MaxTurnsExceeded", f"no final answer within maxTurns ({max_turns})"
    timeout = parse_duration(view.spec.get("timeout") or limits.get("timeout"))
    st = view.status
    started = parse_time(st.get("exchangeStartedAt") or st.get("startedAt"))
    if timeout and started and view.now - started > timeout:
        return "Timeout", f"the run exceeded its timeout ({timeout:g}s)"
    max_tokens = limits.get("maxTokens")
    total = st.get("tokenUsage", {}).get("total", 0)
    if max_tokens and total >= int(max_tokens):
        return "TokenBudgetExceeded", f"used {total} tokens of limits.maxTokens {max_tokens}"
    return "", ""


def _waiting(view: RunView, step: int) -> bool:
    return view.stage == Stage.MODEL and view.step == step


def _end(st: dict[str, Any], phase: str, reason: str, message: str, **more: Any) -> None:
    st.update(
        stage=Stage.FINALIZING, outcome={"phase": phase, "reason": reason, "message": message}
    )
    st.update(more)


def decide_claim(view: RunView, step: int, owner: str) -> Outcome:
    """Claim the model call of ``step`` (or end the run on a limit it would break)."""
    if not _waiting(view, step) or view.transcript.reply(step) is not None:
        return Outcome()  # stale, or the reply is recorded: the caller applies it
    if claims.is_live(view.status, claims.llm_claim(step), view.now):
        return Outcome(idle="busy")
    st = view.edit()
    reason, message = _limit_breach(view)
    if reason:
        _end(st, Phase.FAILED, reason, message, error={"reason": reason, "message": message})
        return Outcome(st)
    claims.claim(st, claims.llm_claim(step), owner, view.now)
    return Outcome(st)


def _holds(view: RunView, step: int, owner: str) -> bool:
    """``owner`` still holds the call of ``step``, and no reply of it is recorded."""
    return (
        _waiting(view, step)
        and claims.holder(view.status, claims.llm_claim(step)) == owner
        and view.transcript.reply(step) is None
    )


def decide_retry(view: RunView, step: int, owner: str, exc: TransientError) -> Outcome:
    """A transient model error: count the attempt, say why, and free the claim for the retry."""
    if not _holds(view, step, owner):
        return Outcome()
    st = view.edit()
    st["modelAttempts"] = int(st.get("modelAttempts", 0)) + 1
    set_condition(st, "ModelAvailable", False, exc.reason, exc.message, view.now)
    claims.release(st, claims.llm_claim(step))
    return Outcome(st, idle="busy")


def decide_failure(view: RunView, step: int, owner: str, exc: PermanentError) -> Outcome:
    """The model refused for good (bad key, unknown model): the run fails with the reason."""
    if not _holds(view, step, owner):
        return Outcome()
    st = view.edit()
    claims.release(st, claims.llm_claim(step))
    error = {"reason": exc.reason, "message": exc.message}
    _end(st, Phase.FAILED, exc.reason, exc.message, error=error)
    return Outcome(st)


def decide_over_budget(
    view: RunView, step: int, owner: str, refused: budgets.BudgetExceeded
) -> Outcome:
    """The tree's budget cannot take this call: the run fails BudgetExceeded, numbers kept."""
    if not _holds(view, step, owner):
        return Outcome()
    st = view.edit()
    claims.release(st, claims.llm_claim(step))
    error = {"reason": "BudgetExceeded", "message": refused.message}
    _end(st, Phase.FAILED, "BudgetExceeded", refused.message, error=error)
    st["budgetExceeded"] = refused.record()
    return Outcome(st)


Price = Callable[[Resource, Mapping[str, int]], str]


def decide_reply(
    view: RunView, step: int, reply: ModelReply, models: list[Resource], price: Price
) -> Outcome:
    """Record ``reply`` for ``step`` and move on: tool calls, another turn, or the answer.

    A reply recorded already wins (a lapsed claim's second call, or a commit whose
    journal landed but whose status write did not): its tokens are the ones counted.
    ``price(model, usage)`` is the Model's pricing of one reply's usage (pure arithmetic).
    """
    if not _waiting(view, step):
        return Outcome()
    recorded = view.transcript.reply(step)
    if recorded is not None:
        reply = reply_from_entry(recorded)
    model = answering(models, reply)
    spec = model["spec"]
    decision = classify_stop(reply, str(spec.get("onMaxTokens") or "fail"), spec.get("maxTokens"))
    st = view.edit()
    claims.release(st, claims.llm_claim(step))
    count(st, reply, price(model, usage_record(reply.usage)), view.now)
    text = answer_text(view.transcript, step, reply)
    if decision.kind == "tool_calls":
        st.update(stage=Stage.TOOLS, pendingToolCalls=[c.id for c in reply.tool_calls])
        for field in ("awaitingApproval", "approvals", "delegations", "queuedCalls"):
            st.pop(field, None)
    elif decision.kind == "continue":
        st.update(step=step + 1)
    elif decision.kind == "answer" and is_server(view.run):
        st.update(phase=Phase.SERVING, stage=Stage.INPUT, result=text)
    elif decision.kind == "answer":
        st.update(result=text)
        _end(st, Phase.SUCCEEDED, "Completed", "the agent answered")
    else:
        error = {"reason": decision.reason, "message": decision.message}
        _end(st, Phase.FAILED, decision.reason, decision.message, error=error)
    return Outcome(st, {reply_key(step): reply_entry(reply)})


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Claim the model call of step n, make it, and record the reply with what follows."""
    ev = decode(event)
    run = get_run(deps, ev.run)
    if run is None:
        return []
    ref, step, owner = RunRef.of(run), ev.step, claims.new_owner()
    status = run.get("status") or {}
    if status.get("stage") != Stage.MODEL or status.get("step") != step:
        return follow_up(deps, advance(deps, ref, lambda v: Outcome(), read=run), event)
    transcript = Transcript(deps.store.read_journal(run))
    context = transcript.context
    models = [
        _model(deps, ref, str(context.get("model", ""))),
        *_fallbacks(deps, ref, list(context.get("fallbackModels") or [])),
    ]
    price = deps.models.cost
    recorded = transcript.reply(step)
    if recorded is not None:  # recorded, not yet applied (a crash, a lost status write)
        reply = reply_from_entry(recorded)
        applied = advance(
            deps,
            ref,
            lambda v: decide_reply(v, step, reply, models, price),
            read=run,
            transcript=transcript,
        )
        return follow_up(deps, applied, event)
    claimed = advance(
        deps,
        ref,
        lambda view: decide_claim(view, step, owner),
        read=run,
        transcript=transcript,
    )
    after = claimed.after
    mine = after is not None and claims.holder(after["status"], claims.llm_claim(step)) == owner
    if not claimed.committed or after is None or not mine:
        return follow_up(deps, claimed, event)
    if claimed.before is not run:  # decided on a re-read: the journal may have changed too
        transcript = Transcript(deps.store.read_journal(after))
    # The claim wrote no journal: the transcript is still the run's.
    request = ModelRequest(
        system=transcript.system,
        messages=transcript.messages(step),
        tools=transcript.tools,
        max_tokens=int(models[0]["spec"].get("maxTokens", 1024)),
        idempotency_key=f"{ref.uid}/{step}/{NAME}",
    )
    # The tree's budget takes the call's worst case first (a conditional write on its root).
    held = budgets.guard(
        deps, after, budgets.run_budget(after, context.get("budget")), models, request
    )
    if isinstance(held, budgets.BudgetExceeded):
        refused = held
        return follow_up(
            deps, advance(deps, ref, lambda v: decide_over_budget(v, step, owner, refused))
        )
    try:
        with held_lease(deps, ref, claims.llm_claim(step), owner):
            reply = deps.models.for_models(models).complete(request)
    except TransientError as exc:
        budgets.release(deps, held)
        transient = exc
        advance(deps, ref, lambda v: decide_retry(v, step, owner, transient))
        raise
    except PermanentError as exc:
        budgets.release(deps, held)
        permanent = exc
        failed = advance(deps, ref, lambda v: decide_failure(v, step, owner, permanent))
        return follow_up(deps, failed)
    except BaseException:
        budgets.release(deps, held)
        raise
    budgets.account(deps, held, models, reply)
    done = advance(
        deps,
        ref,
        lambda v: decide_reply(v, step, reply, models, price),
        read=after,
        transcript=transcript,
    )
    return follow_up(deps, done)
