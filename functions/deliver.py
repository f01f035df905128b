"""deliver: post a finished run's answer (or why there is none) into its chat thread.

Runs without routing are not for a chat: nothing happens. The run's ``Delivered``
condition records the delivery, written around the post:

1. claim: ``Delivered=Unknown, reason Posting`` (a lease of ``LEASE`` seconds), written
   with the resourceVersion read, so of two concurrent deliveries of the same event
   only one posts; the other is retried after the lease (``TransientError``).
2. post, with an idempotency key derived from the run (``<uid>/deliver``).
3. ``Delivered=True, reason Posted`` (or ``False`` with the platform's reason when the
   post can never succeed: a redelivery does not try again).

The crash window is between 2 and 3: the platform took the answer but the record did
not happen. A redelivery after the lease posts again (at least once, never lost).
Platforms that honour the key (the generic webhook gets ``Idempotency-Key``) or whose
delivery is an edit (Discord replaces the "thinking..." message) show it once; Slack
and Telegram have no idempotency key and may show it twice in that window only.
A transient failure frees the claim (``reason Retrying``) and is retried by the bus.

Server mode: each answer of a session arrives as ``run.replied`` and is posted with the
key ``<uid>/<step>/deliver``; a journal entry ``delivered/<step>`` written after the post
makes a redelivery a no-op (at least once, as above, without a claim: replies of one
session are never posted concurrently by design, one exchange follows the other). The
session's ``run.finished`` posts nothing when it Succeeded: its answers are out already.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.envelope import CloudEvent, RunRef
from events.errors import PermanentError, TransientError
from events.run_events import decode
from functions.ports import Deps, NotFound, Resource
from functions.run import transcript as recorded
from functions.run.delivery import CONDITION, settle
from functions.run.needs import finished_data
from functions.run.session import reply_routing
from functions.run.status import TERMINAL_PHASES, get_run, parse_time, rfc3339, set_condition
from functions.run.step import Outcome, advance
from functions.run.transcript import Transcript, load, reply_from_entry, reply_key
from functions.run.view import RunView

__all__ = ["LEASE", "answer_text", "handle"]

NAME = "deliver"
# Longer than one post may take (the adapters time out after 10 s), so a live claim
# is never taken over; short enough that a crashed claim is retried within a minute.
LEASE: Final = 15.0
log = logging.getLogger(__name__)


def answer_text(data: Mapping[str, Any], ref: RunRef) -> str:
    """What the thread reads: the answer, or why there is none, in a sentence a person follows."""
    phase = data.get("phase")
    if phase == "Succeeded":
        result = str(data.get("result") or "").strip()
        return result or "(The agent finished without an answer.)"
    if phase == "Cancelled":
        return "This request was cancelled before an answer was ready."
    error = data.get("error") or {}
    message = str(error.get("message") or "the run failed").rstrip(".")
    reason = error.get("reason")
    detail = f" ({reason}, run {ref.namespace}/{ref.name})" if reason else ""
    return f"Sorry, I could not answer this: {message}.{detail}"


def _condition(status: Mapping[str, Any]) -> Mapping[str, Any]:
    for cond in status.get("conditions") or []:
        if cond.get("type") == CONDITION:
            return dict(cond)
    return {}


def decide_claim(view: RunView, channel: str) -> Outcome:
    """Take the delivery of a finished run's answer (``Delivered=Unknown``, reason Posting).

    ``idle="done"``: delivered already, failed for good, or not a finished run.
    """
    if view.phase not in TERMINAL_PHASES:
        return Outcome(idle="done")  # a reused name: this finished event is not about this run
    cond = _condition(view.status)
    if cond.get("status") in ("True", "False") and cond.get("reason") != "Retrying":
        return Outcome(idle="done")
    if cond.get("reason") == "Posting":
        held = view.now - (parse_time(cond.get("lastTransitionTime")) or 0.0)
        if held < LEASE:
            raise TransientError(
                f"agentrun {view.ref.key}: another delivery is posting to {channel}",
                delay=LEASE - held,
                reason="DeliveryInProgress",
            )
    st = view.edit()
    set_condition(st, CONDITION, False, "Posting", f"posting the answer to {channel}", view.now)
    # The claim's time is the lease, whatever the condition's previous status was.
    for item in st["conditions"]:
        if item["type"] == CONDITION:
            item.update(status="Unknown", lastTransitionTime=rfc3339(view.now))
    return Outcome(st)


def _claim(deps: Deps, ref: RunRef, channel: str) -> str:
    """``post`` (the claim is ours), ``done`` (delivered or failed for good) or ``gone``."""
    result = advance(deps, ref, lambda view: decide_claim(view, channel))
    if result.committed:
        return "post"
    return "gone" if result.after is None else "done"


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Post the answer of a finished run with routing into its thread, once as far as possible.

    What is posted, and where, comes from the run's record, never from the event.
    """
    ev = decode(event)
    run = get_run(deps, ev.run)
    if run is None:
        return []
    if ev.type == types.RUN_REPLIED:
        return _post_reply(deps, run, ev.step)
    if ev.type != types.RUN_FINISHED:
        return []
    data = finished_data(run)
    routing = data.get("routing")
    if data.get("phase") not in TERMINAL_PHASES:
        return []
    if not isinstance(routing, dict) or not routing.get("channel"):
        return []
    if data.get("mode") == "server" and data.get("phase") == "Succeeded":
        return []  # a session that ended (idle): every answer went out as run.replied
    ref = RunRef.of(run)
    channel = str(routing["channel"])
    if deps.channels is None:
        log.warning("run %s has routing to %s but no channels are configured", ref.key, channel)
        settle(deps, ref, False, "NoChannels", "this deployment has no chat channels configured")
        return []
    claim = _claim(deps, ref, channel)
    if claim == "done":
        return []
    key = f"{ref.uid or ref.key}/{NAME}"
    try:
        deps.channels.post(routing, answer_text(data, ref), key)
    except TransientError as exc:
        if claim == "post":
            settle(deps, ref, False, "Retrying", f"{channel}: {exc.message}")
        raise
    except PermanentError as exc:
        log.warning("run %s: delivery to %s failed: %s", ref.key, channel, exc.message)
        if claim == "post":
            settle(deps, ref, False, exc.reason, f"{channel}: {exc.message}")
        return []
    if claim == "post":
        settle(deps, ref, True, "Posted", f"the answer is in the {channel} thread")
    return []


def _post_reply(deps: Deps, run: Resource, step: int) -> list[CloudEvent]:
    """Post one answer of a Serving run into its thread, once per step as far as possible."""
    ref = RunRef.of(run)
    transcript = load(deps.store, run)
    routing = reply_routing(run, transcript, step)
    if not isinstance(routing, dict) or not routing.get("channel"):
        return []
    entry = transcript.reply(step)
    if entry is None or reply_key(step) not in transcript.entries:
        return []  # no answer of that step in the record: nothing to post
    channel = str(routing["channel"])
    if deps.channels is None:
        log.warning("run %s has routing to %s but no channels are configured", ref.key, channel)
        return []
    marker = f"delivered/{step}"
    if marker in transcript.entries:
        return []
    text = answer_text_of(transcript, step)
    try:
        deps.channels.post(routing, text, f"{ref.uid or ref.key}/{step}/{NAME}")
    except PermanentError as exc:
        log.warning("run %s: reply to %s failed: %s", ref.key, channel, exc.message)
        return []
    with contextlib.suppress(NotFound):  # the session was deleted meanwhile
        deps.store.append_journal(run, marker, {"channel": channel})
    return []


def answer_text_of(transcript: Transcript, step: int) -> str:
    """The answer of ``step`` as the record holds it (continued turns included)."""
    return recorded.answer_text(transcript, step, reply_from_entry(transcript.reply(step) or {}))
