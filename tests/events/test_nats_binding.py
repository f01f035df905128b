"""The CloudEvents NATS binding: binary and structured modes, detection, malformed input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cloudevents.core.v1.event import CloudEvent

from events.codecs.nats import (
    NATSMessage,
    from_binary,
    from_nats,
    from_structured,
    to_binary,
    to_structured,
)
from events.envelope import RunRef, run_event
from events.errors import MalformedEvent
from events.types import LLM_REQUESTED

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
WHEN = datetime(2026, 11, 21, 14, 30, 5, 123456, tzinfo=UTC)


def _event(**extra: str) -> CloudEvent:
    attributes = {
        "type": "dev.baton.llm.requested",
        "source": "/baton/prepare_context",
        "id": "uid-1/3/prepare_context",
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "subject": "my-run",
        "time": WHEN,
        "batonrun": "default/my-run",
        "traceparent": TRACEPARENT,
        **extra,
    }
    return CloudEvent(attributes, {"run": {"name": "my-run"}, "step": 3, "text": "héllo"})


def _same(a: CloudEvent, b: object) -> None:
    assert isinstance(b, CloudEvent)
    assert a.get_attributes() == b.get_attributes()
    assert a.get_data() == b.get_data()


def test_binary_round_trip_keeps_every_attribute_and_the_data() -> None:
    """An event encoded in binary mode decodes to the same attributes and data."""
    event = _event()
    _same(event, from_binary(to_binary(event)))


def test_binary_maps_every_attribute_to_a_ce_header_including_datacontenttype() -> None:
    """Binary mode puts each attribute in a ce- header and no Content-Type (NATS has none)."""
    message = to_binary(_event())
    assert message.headers["ce-datacontenttype"] == "application/json"
    assert message.headers["ce-batonrun"] == "default/my-run"
    assert message.headers["ce-traceparent"] == TRACEPARENT
    assert message.headers["ce-specversion"] == "1.0"
    assert "content-type" not in {h.lower() for h in message.headers}
    assert json.loads(message.data)["step"] == 3


def test_binary_time_is_rfc3339_with_z_and_parses_back_to_a_datetime() -> None:
    """The time attribute travels as RFC 3339 UTC and comes back as an aware datetime."""
    message = to_binary(_event())
    assert message.headers["ce-time"] == "2026-11-21T14:30:05.123456Z"
    decoded = from_binary(message)
    assert decoded.get_time() == WHEN


def test_binary_percent_encodes_values_like_the_http_binding() -> None:
    """Spaces, quotes, percent signs and non-ASCII are percent-encoded and decoded back."""
    event = _event(subject='a "quoted" 100% résumé')
    message = to_binary(event)
    assert message.headers["ce-subject"] == "a%20%22quoted%22%20100%25%20r%C3%A9sum%C3%A9"
    assert from_binary(message).get_subject() == 'a "quoted" 100% résumé'


def test_baton_run_events_round_trip_with_their_extensions() -> None:
    """A baton run event keeps batonrun, batonstep and traceparent across the binding."""
    event = run_event(LLM_REQUESTED, RunRef("ns", "r1", "u1"), 2, traceparent=TRACEPARENT)
    decoded = from_nats(to_binary(event))
    assert decoded.get_extension("batonrun") == "ns/r1"
    assert decoded.get_extension("batonstep") == "2"
    assert decoded.get_extension("traceparent") == TRACEPARENT
    assert decoded.get_id() == "u1/2/llm.requested"
    assert decoded.get_data() == {"run": {"namespace": "ns", "name": "r1", "uid": "u1"}, "step": 2}


def test_header_names_are_read_case_insensitively() -> None:
    """Headers written in another case by another client still decode."""
    message = to_binary(_event())
    shouted = NATSMessage({k.upper(): v for k, v in message.headers.items()}, message.data)
    _same(_event(), from_nats(shouted))


def test_content_type_header_stands_in_for_a_missing_ce_datacontenttype() -> None:
    """A producer that sets Content-Type the HTTP way still gets its data parsed as JSON."""
    message = to_binary(_event())
    headers = {k: v for k, v in message.headers.items() if k != "ce-datacontenttype"}
    headers["Content-Type"] = "application/json"
    decoded = from_nats(NATSMessage(headers, message.data))
    assert decoded.get_datacontenttype() == "application/json"
    assert decoded.get_data() == _event().get_data()


def test_structured_round_trip() -> None:
    """An event encoded in structured mode decodes to the same attributes and data."""
    event = _event()
    message = to_structured(event)
    assert message.headers == {"content-type": "application/cloudevents+json"}
    _same(event, from_structured(message))


def test_structured_payload_without_headers_is_detected() -> None:
    """A bare JSON event payload (as eventing-natss stores it) is read as structured."""
    event = _event()
    payload = to_structured(event).data
    _same(event, from_nats(NATSMessage({}, payload)))


def test_structured_content_type_wins_over_stray_ce_headers() -> None:
    """With a CloudEvents content type the payload is the event, whatever else is in headers."""
    event = _event()
    message = NATSMessage(
        {"Content-Type": "application/cloudevents+json; charset=utf-8", "ce-id": "other"},
        to_structured(event).data,
    )
    assert from_nats(message).get_id() == event.get_id()


def test_binary_data_that_is_not_json_stays_bytes_or_text() -> None:
    """Non-JSON data is carried as-is."""
    event = CloudEvent(
        {"type": "t", "source": "/s", "id": "1", "datacontenttype": "application/octet-stream"},
        b"\x00\x01\xff",
    )
    assert from_nats(to_binary(event)).get_data() == b"\x00\x01\xff"


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (NATSMessage({"ce-id": "1", "ce-type": "t", "ce-source": "/s"}, b""), "ce-specversion"),
        (
            NATSMessage({"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s"}, b""),
            "id",
        ),
        (
            NATSMessage(
                {
                    "ce-specversion": "1.0",
                    "ce-id": "1",
                    "ce-type": "t",
                    "ce-source": "/s",
                    "ce-time": "yesterday",
                },
                b"",
            ),
            "ce-time",
        ),
        (
            NATSMessage(
                {"ce-specversion": "1.0", "ce-id": "%ff%fe", "ce-type": "t", "ce-source": "/s"},
                b"",
            ),
            "ce-id",
        ),
        (
            NATSMessage(
                {"ce-specversion": "9.9", "ce-id": "1", "ce-type": "t", "ce-source": "/s"}, b""
            ),
            "specversion",
        ),
        (
            NATSMessage(
                {
                    "ce-specversion": "1.0",
                    "ce-id": "1",
                    "ce-type": "t",
                    "ce-source": "/s",
                    "ce-bad_name": "x",
                },
                b"",
            ),
            "bad_name",
        ),
        (NATSMessage({}, b"not json"), "JSON object"),
        (NATSMessage({}, b'{"specversion": "1.0", "id": "1"'), "structured"),
        (NATSMessage({"content-type": "application/cloudevents+json"}, b'{"id": "1"}'), "type"),
        (NATSMessage({"content-type": "application/cloudevents-batch+json"}, b"[]"), "batch"),
    ],
)
def test_malformed_messages_raise_malformed_event_naming_the_problem(
    message: NATSMessage, problem: str
) -> None:
    """Bad headers or payloads raise MalformedEvent whose message names what is wrong."""
    with pytest.raises(MalformedEvent) as caught:
        from_nats(message)
    assert problem in str(caught.value)
