"""dead_letter: an event could not be processed; fail its run with the reason.

Buses dead-letter on PermanentError and when retries run out; Knative's
dead-letter sink receives the same event with ``knativeerrorcode``/``knativeerrordata``.
"""

from __future__ import annotations

import base64
import json
import logging

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.apiserver import object_of
from events.bus import DEAD_LETTER_MESSAGE, DEAD_LETTER_REASON
from events.envelope import CloudEvent, RunRef, data_of, dedupe_key
from events.errors import MalformedEvent
from events.run_events import decode
from functions.ports import Deps, Resource
from functions.run.delivery import gave_up
from functions.run.needs import needs
from functions.run.status import TERMINAL_PHASES, Phase, Stage, get_run, is_terminal, parse_time
from functions.run.step import Outcome, advance, follow_up
from functions.run.view import RunView

__all__ = ["handle", "reason_of"]

NAME = "dead_letter"
log = logging.getLogger(__name__)


def reason_of(event: BaseCloudEvent) -> tuple[str, str]:
    """The (reason, message) a bus or Knative attached to a dead-lettered event."""
    reason = event.get_extension(DEAD_LETTER_REASON)
    message = event.get_extension(DEAD_LETTER_MESSAGE)
    if reason:
        return str(reason), str(message or reason)
    data = event.get_extension("knativeerrordata")
    code = event.get_extension("knativeerrorcode")
    if data:
        try:
            body = json.loads(base64.b64decode(str(data)))
        except ValueError:
            body = None
        if isinstance(body, dict):  # a baton function's error body; anything else is quoted
            return str(body.get("reason") or "DeliveryFailed"), str(body.get("message") or body)
        return "DeliveryFailed", f"HTTP {code}: {str(data)[:200]}"
    return "DeliveryFailed", f"delivery failed (HTTP {code})" if code else "delivery failed"


def _run_of(event: BaseCloudEvent) -> RunRef | None:
    try:
        if event.get_type() in types.APISERVER_TYPES:
            obj = object_of(event)
            if obj.get("kind") != "AgentRun":
                return None
            meta = obj["metadata"]
            return RunRef(meta.get("namespace") or "default", meta["name"], meta.get("uid", ""))
        run = data_of(event).get("run")
    except (MalformedEvent, KeyError):
        return None
    if not isinstance(run, dict) or not run.get("name"):
        return None
    return RunRef(str(run.get("namespace") or "default"), str(run["name"]), str(run.get("uid", "")))


def run_time(run: Resource) -> float:
    """Any time will do once claims are set aside; the run's last event keeps it pure."""
    return parse_time((run.get("status") or {}).get("lastEventTime")) or 0.0


def _is_a_need(event: BaseCloudEvent, run: Resource) -> bool:
    """Whether ``event`` is one the run's record still waits for (claims aside).

    A malformed, forged or old event is not: it fails nothing.
    """
    st = run.get("status") or {}
    if event.get_type() in types.APISERVER_TYPES:
        return st.get("phase", "") in ("", Phase.PENDING) and st.get("stage") != Stage.FINALIZING
    try:
        decode(event)
    except MalformedEvent:
        return False
    key = dedupe_key(event)
    # The needs as first published: without claims (a lapsed one renames its re-drive).
    unclaimed = {**run, "status": {**st, "claims": {}}}
    return any(dedupe_key(e) == key for e in needs(unclaimed, run_time(run)))


def decide(view: RunView, error: dict[str, str]) -> Outcome:
    """Record the failure as the run's outcome (finalize carries it out)."""
    if view.phase in TERMINAL_PHASES or view.stage == Stage.FINALIZING:
        return Outcome()
    st = view.edit()
    st.update(
        stage=Stage.FINALIZING,
        error=error,
        outcome={"phase": Phase.FAILED, **error},
    )
    st.pop("claims", None)
    return Outcome(st)


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Record the failure on the run the event was about, when the run still needed it."""
    reason, message = reason_of(event)
    ref = _run_of(event)
    log.warning("dead letter %s (%s): %s: %s", event.get_id(), event.get_type(), reason, message)
    if ref is None or event.get_type() in (types.TOOL_COMPLETED, *types.TERMINAL_REQUESTS):
        return []  # a record, or finalize itself failed for good: nothing to ask of it
    run = get_run(deps, ref)
    if run is None:
        return []
    if event.get_type() in (types.RUN_FINISHED, types.RUN_REPLIED):
        # A reply that could not be posted is deliver's failure, not the run's: say so.
        if is_terminal(run) or event.get_type() == types.RUN_REPLIED:
            gave_up(deps, RunRef.of(run), reason, message)
        return []
    if not _is_a_need(event, run):
        return []  # an old step's, a forged or a malformed event: the run is not its to fail
    error = {"reason": reason, "message": f"{event.get_type()} failed: {message}"}
    result = advance(deps, RunRef.of(run), lambda view: decide(view, error), read=run)
    return follow_up(deps, result)
