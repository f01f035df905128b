"""The NATS binding over a real server: headers and payload survive the wire."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from events.bus import Subscription
from events.codecs.nats import NATSMessage, from_nats, to_binary, to_structured
from events.types import RUN_REQUESTED
from tests.nats.conftest import MakeBus, Recorder, with_jetstream

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _event() -> CloudEvent:
    return CloudEvent(
        {
            "type": RUN_REQUESTED,
            "source": "/chat/slack",
            "id": "evt 1/ü",
            "subject": 'a "quoted" subject 100%',
            "datacontenttype": "application/json",
            "time": datetime(2026, 11, 21, 14, 0, tzinfo=UTC),
            "batonrun": "default/r1",
            "traceparent": TRACEPARENT,
        },
        {"agent": "greeter", "task": "say hi", "sessionKey": "thread 1/ü"},
    )


def test_binary_event_published_on_core_nats_decodes_equal(nats_url: str) -> None:
    """Publish with ce- headers, receive on a subscription, decode: the same event."""
    import nats

    event = _event()

    async def round_trip() -> Any:
        nc = await nats.connect(nats_url)
        try:
            sub = await nc.subscribe("probe.binding")
            message = to_binary(event)
            await nc.publish("probe.binding", message.data, headers=message.headers)
            received = await sub.next_msg(timeout=5)
            return from_nats(NATSMessage(dict(received.headers or {}), received.data))
        finally:
            await nc.close()

    decoded = asyncio.run(round_trip())
    assert decoded.get_attributes() == event.get_attributes()
    assert decoded.get_data() == event.get_data()


def test_structured_event_from_another_producer_reaches_the_handler(
    make_bus: MakeBus, nats_url: str
) -> None:
    """A structured-mode payload stored on the stream (as eventing-natss does) is delivered."""
    seen = Recorder()
    bus = make_bus()
    bus.subscribe(Subscription("route", {"type": RUN_REQUESTED}, lambda e: seen.add(e) or []))
    event = _event()
    message = to_structured(event)

    async def publish(js: Any) -> None:
        await js.publish("baton.run.requested", message.data)  # no headers at all

    with_jetstream(nats_url, publish)
    received = seen.wait_for(1)[0]
    assert received.get_attributes() == event.get_attributes()
    assert received.get_data() == event.get_data()


def test_a_malformed_message_is_dead_lettered_raw_and_the_next_event_flows(
    make_bus: MakeBus, nats_url: str
) -> None:
    """Garbage on an event subject is kept on the dead-letter subject with the reason."""
    seen = Recorder()
    bus = make_bus(concurrency=1)
    bus.subscribe(Subscription("route", {"type": RUN_REQUESTED}, lambda e: seen.add(e) or []))

    async def publish_garbage(js: Any) -> None:
        await js.publish("baton.run.requested", b"not an event", headers={"ce-id": "x"})

    with_jetstream(nats_url, publish_garbage)
    bus.publish(_event())
    assert [e.get_id() for e in seen.wait_for(1)] == ["evt 1/ü"]

    async def dead_letter(js: Any) -> Any:
        return await js.get_last_msg("BATON", "baton.deadletter.route")

    stored = with_jetstream(nats_url, dead_letter)
    assert stored.data == b"not an event"
    assert stored.headers["Baton-Error"] == "MalformedEvent"
    assert "ce-specversion" in stored.headers["Baton-Error-Message"]
