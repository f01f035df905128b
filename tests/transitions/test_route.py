"""route: a published request becomes exactly one AgentRun."""

from __future__ import annotations

import pytest

from events import types
from events.envelope import make_event
from events.errors import MalformedEvent, PermanentError
from functions import route
from functions.ports import Invalid


def _request(data, id_="req-1", source="/producer", type_=types.RUN_REQUESTED):
    return make_event(type_, source, data, id_=id_)


def _runs(h):
    return h.store.list("AgentRun")


def test_a_request_creates_a_run(h):
    """The run carries the agent, task and the optional fields; nothing is emitted."""
    data = {
        "agent": "a1",
        "task": "What is 6*7?",
        "sessionKey": "s1",
        "timeout": "5m",
        "cleanup": "delete",
        "routing": {"channel": "slack", "thread": "T"},
    }
    assert route.handle(_request(data), h.deps) == []
    (run,) = _runs(h)
    assert run["spec"] == {
        "agentRef": {"name": "a1"},
        "task": "What is 6*7?",
        "sessionKey": "s1",
        "timeout": "5m",
        "cleanup": "delete",
        "routing": {"channel": "slack", "thread": "T"},
    }
    assert run["metadata"]["name"].startswith("a1-")
    assert run["metadata"]["labels"] == {"baton.dev/agent": "a1"}
    assert run["metadata"]["annotations"]["baton.dev/requested-by"] == "/producer#req-1"


def test_a_redelivered_request_converges_on_one_run(h):
    """The same source and id twice: one run."""
    event = _request({"agent": "a1", "task": "t"})
    route.handle(event, h.deps)
    route.handle(event, h.deps)
    assert len(_runs(h)) == 1


def test_the_idempotency_key_wins_over_the_event_id(h):
    """Two events with one idempotencyKey make one run; different ids without a key make two."""
    route.handle(_request({"agent": "a1", "task": "t", "idempotencyKey": "k"}, id_="1"), h.deps)
    route.handle(_request({"agent": "a1", "task": "t", "idempotencyKey": "k"}, id_="2"), h.deps)
    assert len(_runs(h)) == 1
    route.handle(_request({"agent": "a1", "task": "t"}, id_="3"), h.deps)
    route.handle(_request({"agent": "a1", "task": "t"}, id_="4"), h.deps)
    assert len(_runs(h)) == 3


def test_the_run_name_is_deterministic_and_dns_safe(h):
    """run_name_for gives the same name for the same request and a valid DNS label."""
    data = {"agent": "a" * 63, "task": "t"}
    name = route.run_name_for(_request(data), data)
    assert name == route.run_name_for(_request(data), data)
    assert len(name) <= 63
    assert name != route.run_name_for(_request(data, source="/other"), data)


def test_a_chat_message_gets_a_session_per_thread(h):
    """channel.message: the session key defaults to channel:thread."""
    data = {"agent": "a1", "task": "hi", "routing": {"channel": "slack", "thread": "T9"}}
    route.handle(_request(data, type_=types.CHANNEL_MESSAGE), h.deps)
    assert _runs(h)[0]["spec"]["sessionKey"] == "slack:T9"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"task": "t"}, "'agent' is a required property"),
        ({"agent": "Not_DNS", "task": "t"}, "data.agent"),
        ({"agent": "a1", "task": ""}, "data.task"),
        ({"agent": "a1", "task": "t", "timeout": "soon"}, "data.timeout"),
        ({"agent": "a1", "task": "t", "surprise": 1}, "surprise"),
    ],
)
def test_bad_data_is_a_malformed_event_naming_the_field(h, data, field):
    """Off-contract data raises MalformedEvent naming the field, and creates nothing."""
    with pytest.raises(MalformedEvent, match=field):
        route.handle(_request(data), h.deps)
    assert _runs(h) == []


def test_a_store_rejection_is_permanent(h):
    """A run the store finds invalid is a PermanentError (InvalidRequest), not a retry."""
    h.store.fail_next("create", Invalid("spec.task: too long", field="spec.task"))
    with pytest.raises(PermanentError) as caught:
        route.handle(_request({"agent": "a1", "task": "t"}), h.deps)
    assert caught.value.reason == "InvalidRequest"
    assert "spec.task" in caught.value.message
