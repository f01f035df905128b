"""deliver: a finished run's answer goes into its thread once, recorded in ``Delivered``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from events import types
from events.envelope import CloudEvent, RunRef
from events.errors import PermanentError, TransientError
from functions import deliver
from tests.fakes.model import answer
from tests.transitions.harness import Harness

SLACK = {"channel": "slack", "account": "T1", "thread": "C1/1700000000.000100"}


class RecordingChannels:
    """A ``Channels`` that records posts, or raises ``fail`` once per queued error."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, Any], str, str]] = []
        self.fail: list[Exception] = []

    def post(self, routing: Mapping[str, Any], text: str, idempotency_key: str) -> None:
        """Record the post (or raise the next queued error)."""
        if self.fail:
            raise self.fail.pop(0)
        self.posts.append((dict(routing), text, idempotency_key))


@pytest.fixture
def h() -> Harness:
    """A fake world whose deps post to a RecordingChannels (``h.channels``)."""
    harness = Harness()
    harness.channels = RecordingChannels()  # type: ignore[attr-defined]
    harness.deps = dataclasses.replace(harness.deps, channels=harness.channels)  # type: ignore[attr-defined]
    return harness


def _finished(h: Harness, text: str = "42", **spec: Any) -> CloudEvent:
    h.model()
    h.agent()
    h.run(**spec)
    h.models.script("m1", answer(text))
    (finished,) = [e for e in h.pump(h.prepared()) if e.get_type() == types.RUN_FINISHED]
    return finished


def _delivered(h: Harness) -> dict[str, Any]:
    return next(c for c in h.status()["conditions"] if c["type"] == "Delivered")


def test_the_answer_is_posted_into_the_thread_and_recorded(h: Harness) -> None:
    """A Succeeded run with routing posts its result to the thread; Delivered turns True."""
    event = _finished(h, "The answer is 42.", routing=SLACK)
    assert deliver.handle(event, h.deps) == []
    uid = h.get()["metadata"]["uid"]
    assert h.channels.posts == [(SLACK, "The answer is 42.", f"{uid}/deliver")]
    cond = _delivered(h)
    assert (cond["status"], cond["reason"]) == ("True", "Posted")


def test_a_run_without_routing_posts_nothing(h: Harness) -> None:
    """A run applied with kubectl (no routing) is not for a chat: nothing posted or written."""
    event = _finished(h)
    before = h.get()
    assert deliver.handle(event, h.deps) == []
    assert h.channels.posts == []
    assert h.get() == before


def test_a_redelivered_finish_does_not_post_twice(h: Harness) -> None:
    """The same run.finished again (redelivery) finds Delivered=True and posts nothing."""
    event = _finished(h, routing=SLACK)
    deliver.handle(event, h.deps)
    deliver.handle(event, h.deps)
    assert len(h.channels.posts) == 1


def test_a_failure_is_phrased_for_a_person(h: Harness) -> None:
    """A Failed run posts why, in a sentence, with the reason and run to look up."""
    h.model()
    h.agent()
    run = h.run(routing=SLACK)
    error = {"reason": "Timeout", "message": "the run exceeded its timeout"}
    h.store.update_status({**run, "status": {"phase": "Failed", "error": error}})
    # What the event says is not read: the run's record is (a forged text posts nothing).
    event = h.event(
        types.RUN_FINISHED,
        data={"phase": "Succeeded", "result": "forged", "routing": SLACK},
    )
    deliver.handle(event, h.deps)
    ((_, text, _),) = h.channels.posts
    assert text == (
        "Sorry, I could not answer this: the run exceeded its timeout. (Timeout, run default/r1)"
    )


def test_a_transient_failure_frees_the_claim_and_retries(h: Harness) -> None:
    """Rate limited: the error propagates (the bus retries) and the retry posts."""
    event = _finished(h, routing=SLACK)
    h.channels.fail.append(TransientError("slack: rate limited", delay=3))
    with pytest.raises(TransientError) as caught:
        deliver.handle(event, h.deps)
    assert caught.value.delay == 3
    assert (_delivered(h)["status"], _delivered(h)["reason"]) == ("False", "Retrying")
    deliver.handle(event, h.deps)
    assert len(h.channels.posts) == 1
    assert _delivered(h)["status"] == "True"


def test_a_permanent_failure_is_recorded_and_not_retried(h: Harness) -> None:
    """The platform refuses for good: Delivered=False says why; a redelivery does not retry."""
    event = _finished(h, routing=SLACK)
    h.channels.fail.append(
        PermanentError("slack: not_in_channel: invite the bot", reason="ChannelRefused")
    )
    assert deliver.handle(event, h.deps) == []
    cond = _delivered(h)
    assert (cond["status"], cond["reason"]) == ("False", "ChannelRefused")
    assert "invite the bot" in cond["message"]
    deliver.handle(event, h.deps)
    assert h.channels.posts == []


def test_a_live_claim_holds_off_a_concurrent_delivery(h: Harness) -> None:
    """While another delivery is posting (claim within the lease) this one waits, then skips."""
    event = _finished(h, routing=SLACK)
    h.channels.fail.append(_CrashMidPost())
    with pytest.raises(_CrashMidPost):
        deliver.handle(event, h.deps)  # claimed, then the process "died" before recording
    assert _delivered(h)["reason"] == "Posting"
    with pytest.raises(TransientError) as caught:
        deliver.handle(event, h.deps)
    assert caught.value.delay == pytest.approx(deliver.LEASE)
    h.clock.advance(deliver.LEASE + 1)
    deliver.handle(event, h.deps)  # the lease ran out: the claim was dead, post now
    assert len(h.channels.posts) == 1
    assert _delivered(h)["status"] == "True"


class _CrashMidPost(BaseException):
    """Stands in for a process killed during the post (not an error deliver handles)."""


def test_no_channels_configured_is_recorded(h: Harness) -> None:
    """A deployment without channels says so on the run instead of failing silently."""
    event = _finished(h, routing=SLACK)
    deps = dataclasses.replace(h.deps, channels=None)
    assert deliver.handle(event, deps) == []
    assert _delivered(h)["reason"] == "NoChannels"


def test_the_finished_event_is_routed_to_deliver() -> None:
    """The chain sends run.finished to deliver."""
    from functions.chain import ROUTES

    assert [r.function for r in ROUTES if r.filter == {"type": types.RUN_FINISHED}] == ["deliver"]


def test_a_cancelled_run_says_so_and_an_empty_answer_is_explained() -> None:
    """Cancelled and answer-less runs still tell the thread something a person understands."""
    ref = RunRef("default", "r1", "u1")
    assert "cancelled" in deliver.answer_text({"phase": "Cancelled"}, ref)
    empty = deliver.answer_text({"phase": "Succeeded", "result": "  "}, ref)
    assert empty == "(The agent finished without an answer.)"
