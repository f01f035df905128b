"""finalize: end the run with the outcome its record holds, and announce it.

Whoever decided the end (call_llm's answer or failure, validate's rejection, sweep's
timeout, cancel or idle end, the dead letter) wrote it as ``status.outcome`` in the
commit that decided it; finalize only carries it out, so a terminal event that nobody
decided (a forged ``run.completed`` or ``run.cancelled``) finds no outcome and
changes nothing. A sub-agent run's end becomes its parent's tool result, when the
parent's record delegated that call to this very run (uid checked).
"""

from __future__ import annotations

from cloudevents.core.base import BaseCloudEvent

from events.envelope import CloudEvent
from events.run_events import decode
from functions.ports import Deps
from functions.run.needs import outcome_of
from functions.run.status import (
    TERMINAL_PHASES,
    Phase,
    Stage,
    parse_time,
    rfc3339,
    set_condition,
)
from functions.run.step import Outcome, advance, follow_up
from functions.run.subagents import resume_parent
from functions.run.view import RunView

__all__ = ["decide", "handle"]

NAME = "finalize"


def decide(view: RunView) -> Outcome:
    """Move a run whose outcome is recorded to Succeeded, Failed or Cancelled."""
    if view.phase in TERMINAL_PHASES or view.stage != Stage.FINALIZING:
        return Outcome()
    outcome = outcome_of(view.status)
    st = view.edit()
    phase = str(outcome.get("phase"))
    created = parse_time(view.run["metadata"].get("creationTimestamp"))
    started = parse_time(st.get("startedAt")) or created
    st.update(phase=phase, stage=Stage.DONE, completedAt=rfc3339(view.now), pendingToolCalls=[])
    for field in ("claims", "awaitingApproval", "approvals", "queuedCalls"):
        st.pop(field, None)
    # max: replicas' clocks differ, and the CRD refuses a negative duration
    st["durationMs"] = max(round((view.now - started) * 1000), 0) if started else 0
    reason, message = str(outcome.get("reason", "")), str(outcome.get("message", ""))
    if phase == Phase.SUCCEEDED:
        st.pop("error", None)
    else:
        st["error"] = st.get("error") or {"reason": reason, "message": message}
    set_condition(st, "Ready", phase == Phase.SUCCEEDED, reason, message, view.now)
    return Outcome(st)


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Carry out the recorded outcome once; then resume the parent of a sub-agent run."""
    ev = decode(event)
    result = advance(deps, ev.run, decide)
    events = follow_up(deps, result, event)
    done = result.after
    if done is not None and (done.get("status") or {}).get("phase") in TERMINAL_PHASES:
        # Also when already terminal: the first delivery may have died before resuming.
        resumed = resume_parent(deps, done)
        if resumed is not None and resumed.committed:  # the parent's own needs are not ours
            events += follow_up(deps, resumed)
    return events
