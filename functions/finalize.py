"""finalize: end the run with the outcome its record holds, and announce it.

Whoever decided the end (call_llm's answer or failure, validate's rejection, sweep's
timeout, cancel or idle end, the dead letter) wrote it as ``status.outcome`` in the
commit that decided it; finalize only carries it out, so a terminal event that nobody
decided (a forged ``run.completed`` or ``run.cancelled``) finds no outcome and
changes nothing. A sub-agent run's end becomes its parent's tool result, when the
parent's record delegated that call to this very run (uid checked).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events.envelope import CloudEvent
from events.run_events import decode
from functions.ports import Deps, Resource
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
    started = parse_time(st.get("startedAt")) or _first_seen(view.run, st)
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


def _first_seen(run: Resource, status: Mapping[str, Any]) -> float | None:
    """When a run that never started was first taken up: its first condition, in ms.

    creationTimestamp has whole seconds (as on Kubernetes): measured from it, a run that
    waited 3 s for a missing Agent said it took up to 3.999 s.
    """
    times = [parse_time(c.get("lastTransitionTime")) for c in status.get("conditions") or []]
    known = [t for t in times if t is not None]
    return min(known) if known else parse_time(run["metadata"].get("creationTimestamp"))
