"""What a served function answers: one binary CloudEvent or an empty 2xx, follow-ups to K_SINK,
and the status codes Knative's retry and dead-letter logic read."""

from __future__ import annotations

import base64
import json

from cloudevents.core.v1.event import CloudEvent

from events import types
from events.apiserver import resource_event
from events.envelope import make_event
from tests.fixtures.http import EventSink, post_event
from tests.http.conftest import Serve, World

TWO_TOOLS = [
    {
        "text": "Let me look.",
        "toolCalls": [
            {"name": "current_time", "input": {"timezone": "UTC"}},
            {"name": "calculate", "input": {"expression": "2+3"}},
        ],
    },
    {"text": "It is {{last_tool_result}}."},
]


def test_reply_is_one_binary_event_with_datacontenttype(world: World, serve: Serve) -> None:
    """validate answers an added run with run.accepted in binary mode, Content-Type set."""
    world.setup([{"text": "5"}])
    url = serve("validate").url
    reply = post_event(url, world.added(world.new_run()))
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["ce-type"] == types.RUN_ACCEPTED
    event = reply.event()
    assert event.get_datacontenttype() == "application/json"
    assert event.get_data()["run"]["name"] == "r1"
    assert world.run()["status"]["phase"] == "Running"


def test_structured_event_in_binary_event_out(world: World, serve: Serve) -> None:
    """A structured-mode delivery gets the same binary-mode reply."""
    world.setup([{"text": "5"}])
    url = serve("validate").url
    reply = post_event(url, world.added(world.new_run()), structured=True)
    assert reply.status == 200
    assert reply.headers["ce-type"] == types.RUN_ACCEPTED


def test_redelivered_event_answers_what_the_run_still_needs(world: World, serve: Serve) -> None:
    """A duplicate finds the run accepted: no second accept, the same run.accepted again."""
    world.setup([{"text": "5"}])
    url = serve("validate").url
    added = world.added(world.new_run())
    first = post_event(url, added)
    assert first.status == 200
    accepted = world.run()["status"]
    again = post_event(url, added)
    # The next event follows from the run's record: same type and id (a lost emit is repaired).
    assert again.status == 200
    assert (again.headers["ce-type"], again.headers["ce-id"]) == (
        first.headers["ce-type"],
        first.headers["ce-id"],
    )
    assert world.run()["status"] == accepted


def test_reference_mode_event_reads_the_run_from_the_store(world: World, serve: Serve) -> None:
    """An ApiServerSource Reference-mode add (no object in data) is resolved by a read."""
    world.setup([{"text": "5"}])
    url = serve("validate").url
    ref = resource_event("ADDED", world.new_run(), reference=True)
    assert "spec" not in ref.get_data()
    reply = post_event(url, ref)
    assert reply.status == 200, reply.body
    assert reply.headers["ce-type"] == types.RUN_ACCEPTED
    assert world.run()["status"]["phase"] == "Running"


def test_tool_fan_out_goes_to_k_sink_and_the_answer_is_empty(world: World, serve: Serve) -> None:
    """call_llm's two tool calls are POSTed to K_SINK (binary, typed) before an empty 202."""
    world.setup(TWO_TOOLS)
    with EventSink() as sink:
        url = serve("call_llm", sink=sink.url).url
        reply = post_event(url, world.llm_requested())
        assert (reply.status, reply.body) == (202, b"")
        sent = sink.wait_for(2)
    assert [e.get_type() for e in sent] == [types.TOOL_REQUESTED] * 2
    journal = dict(world.store.read_journal(world.run()))
    calls = [b["id"] for b in journal["reply/1"]["content"] if b["type"] == "tool_use"]
    assert [e.get_data()["toolCallId"] for e in sent] == calls
    assert len(set(calls)) == 2
    assert all(e.get_datacontenttype() == "application/json" for e in sent)
    assert sink.rejected == []


def test_fan_out_without_k_sink_is_500_no_sink(world: World, serve: Serve) -> None:
    """Without K_SINK a transition that emits two events cannot answer: 500 NoSink, named."""
    world.setup(TWO_TOOLS)
    url = serve("call_llm").url
    reply = post_event(url, world.llm_requested())
    assert reply.status == 500
    body = reply.json()
    assert body["error"] == "NoSink"
    assert "emitted 2 events" in body["message"]


def test_single_follow_up_also_goes_to_k_sink(world: World, serve: Serve) -> None:
    """With K_SINK set even a single next event is posted there (no reply-chain hops)."""
    world.setup([{"text": "5"}])
    with EventSink() as sink:
        url = serve("validate", sink=sink.url).url
        reply = post_event(url, world.added(world.new_run()))
        assert (reply.status, reply.body) == (202, b"")
        (accepted,) = sink.wait_for(1)
    assert accepted.get_type() == types.RUN_ACCEPTED


def test_transient_model_error_is_503(world: World, serve: Serve) -> None:
    """A model answering 500 is transient: 503, so Knative retries the event."""
    world.setup([{"error": {"status": 500, "message": "overloaded"}}])
    url = serve("call_llm").url
    reply = post_event(url, world.llm_requested())
    assert reply.status == 503
    assert reply.json()["error"] == "ModelUnavailable"
    assert world.run()["status"]["phase"] == "Running"


def test_permanent_model_error_ends_the_run_where_it_happened(world: World, serve: Serve) -> None:
    """A model refusing with 401 is recorded as the run's outcome: run.failed, reason given."""
    world.setup([{"error": {"status": 401, "message": "invalid x-api-key"}}])
    url = serve("call_llm").url
    reply = post_event(url, world.llm_requested())
    assert reply.status == 200
    assert reply.headers["ce-type"] == types.RUN_FAILED
    error = world.run()["status"]["error"]
    assert error["reason"] == "ModelError"
    assert "401" in error["message"]


def test_a_malformed_event_is_a_non_retried_4xx(world: World, serve: Serve) -> None:
    """step 1.0 is not an integer step: a 4xx Knative does not retry, the field named in JSON."""
    world.setup([{"text": "5"}])
    url = serve("call_llm").url
    good = world.llm_requested()
    forged = CloudEvent(dict(good.get_attributes()), {**good.get_data(), "step": 1.0})
    reply = post_event(url, forged)
    assert 400 <= reply.status < 500
    assert reply.status not in (404, 408, 409, 429)
    assert "data.step must be an integer" in reply.json()["message"]
    assert world.run()["status"]["phase"] == "Running"


def test_sink_refusing_with_503_makes_the_function_answer_503(world: World, serve: Serve) -> None:
    """When K_SINK answers 503 the follow-up is not delivered: the function answers 503 too."""
    world.setup([{"text": "5"}])
    with EventSink(answer=lambda _event: 503) as sink:
        url = serve("validate", sink=sink.url).url
        reply = post_event(url, world.added(world.new_run()))
    assert reply.status == 503
    assert reply.json()["error"] == "SinkUnavailable"


def test_dead_letter_fails_the_run_with_knatives_error_data(world: World, serve: Serve) -> None:
    """The dead-letter function reads knativeerrordata (our JSON error) and fails the run."""
    world.setup([{"text": "5"}])
    requested = world.llm_requested()
    error = {"error": "ModelError", "reason": "ModelError", "message": "scripted model error 401"}
    attributes = dict(requested.get_attributes())
    attributes.update(
        knativeerrorcode="422",
        knativeerrordest="http://baton-call-llm.baton-system.svc.cluster.local",
        knativeerrordata=base64.b64encode(json.dumps(error).encode()).decode(),
    )
    dead = make_event(
        requested.get_type(),
        requested.get_source(),
        requested.get_data(),
        id_=requested.get_id(),
        extensions={k: v for k, v in attributes.items() if k.startswith("knative")},
    )
    url = serve("dead_letter").url
    reply = post_event(url, dead)
    assert reply.status == 200, reply.body
    failed = reply.event()
    assert failed.get_type() == types.RUN_FAILED
    assert failed.get_data()["reason"] == "ModelError"
    assert world.run()["status"]["error"]["reason"] == "ModelError"


def test_sweep_takes_pingsource_ticks(world: World, serve: Serve) -> None:
    """sweep's Trigger also feeds it PingSource's own event type: it is accepted."""
    url = serve("sweep").url
    ping = make_event(
        "dev.knative.sources.ping",
        "/apis/v1/namespaces/baton-system/pingsources/baton-tick",
        {"reason": "tick"},
    )
    assert post_event(url, ping).status == 202
