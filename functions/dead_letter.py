"""dead_letter: an event could not be processed; fail its run with the reason.

Buses dead-letter on PermanentError and when retries run out; Knative's
dead-letter sink receives the same event with ``knativeerrorcode``/``knativeerrordata``.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.apiserver import object_of
from events.bus import DEAD_LETTER_MESSAGE, DEAD_LETTER_REASON
from events.envelope import CloudEvent, RunRef, data_of, run_event
from events.errors import MalformedEvent
from functions.agentrun import TERMINAL_PHASES, Stage, get_run, transact
from functions.ports import Deps, Resource

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


def _still_current(event: BaseCloudEvent, status: dict[str, Any]) -> bool:
    """Whether the run still waits on what ``event`` was for (unknown step: assume so)."""
    if event.get_type() in types.APISERVER_TYPES:
        return status.get("phase", "") in ("", "Pending")
    try:
        step = data_of(event).get("step")
    except MalformedEvent:
        return True
    return not isinstance(step, int) or step == status.get("step", 0)


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Record the failure on the run the event was about and ask finalize to end it."""
    reason, message = reason_of(event)
    ref = _run_of(event)
    log.warning("dead letter %s (%s): %s: %s", event.get_id(), event.get_type(), reason, message)
    # A reply that could not be posted is deliver's failure, not the session's.
    if ref is None or event.get_type() in (
        types.RUN_FINISHED,
        types.RUN_REPLIED,
        types.TOOL_COMPLETED,
    ):
        return []
    if event.get_type() in types.TERMINAL_REQUESTS:
        return []  # finalize itself failed for good: nothing further to ask of it
    run = get_run(deps, ref)
    if run is None:
        return []
    ref = RunRef.of(run)
    error = {"reason": reason, "message": f"{event.get_type()} failed: {message}"}

    def record(current: Resource, st: dict[str, Any]) -> bool:
        if st.get("phase") in TERMINAL_PHASES or st.get("stage") == Stage.FINALIZING:
            return False
        if not _still_current(event, st):
            return False  # an old step's event: the run moved on without it
        st.update(stage=Stage.FINALIZING, error=error)
        return True

    written = transact(deps, ref, record)
    if written is None:
        return []
    step = int(written["status"].get("step", 0))
    return [run_event(types.RUN_FAILED, NAME, ref, step, error)]
