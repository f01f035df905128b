"""The NATS corpus over a real nats-server: each bad message is dead-lettered, never handled.

Every message of tests/corpus/nats_cloudevents.yaml is published as is (headers and payload)
on a JetStream event subject a worker consumes, followed by one good event. The handler sees
the good event only; each bad message lands on the dead-letter subject, raw, with
``Baton-Error: MalformedEvent`` and a message naming the problem (the worker terms it: no
redelivery storm).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent

from events.bus import Subscription
from events.buses.jetstream import JetStreamBus, JetStreamConfig
from events.types import RUN_REQUESTED
from tests.fixtures.nats import nats_server, nats_url
from tests.security.corpus import cases, expand, expand_bytes

__all__ = ["nats_server", "nats_url"]

NATS = cases("nats_cloudevents")
SUBJECT = "baton.run.requested"
DEAD = "baton.deadletter.route"


@pytest.fixture
def bus(nats_url: str) -> Iterator[JetStreamBus]:
    """A JetStream bus on the test's server (memory storage)."""
    built = JetStreamBus(replace(JetStreamConfig(url=nats_url, storage="memory")))
    yield built
    built.close()


def _publish_raw(url: str, messages: list[tuple[dict[str, str], bytes]]) -> None:
    import nats

    async def run() -> None:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            for headers, data in messages:
                # NATS has no empty header values on the wire: such a header is simply absent.
                await js.publish(SUBJECT, data, headers={k: v for k, v in headers.items() if v})
        finally:
            await nc.close()

    asyncio.run(run())


def _dead_letters(url: str, count: int) -> list[Any]:
    import nats

    async def run() -> list[Any]:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe(DEAD, stream="BATON")
            found: list[Any] = []
            while len(found) < count:
                found += await sub.fetch(count - len(found), timeout=20)
            return found
        finally:
            await nc.close()

    return asyncio.run(run())


def test_every_bad_nats_message_is_dead_lettered_and_never_handled(
    bus: JetStreamBus, nats_url: str
) -> None:
    """N bad messages then a good one: the handler sees one event, the dead letters N."""
    seen: list[Any] = []
    bus.subscribe(Subscription("route", {"type": RUN_REQUESTED}, lambda e: seen.append(e) or []))
    messages = [(expand(c["headers"]), expand_bytes(c["data"])) for c in NATS]
    _publish_raw(nats_url, messages)
    good = CloudEvent(
        {
            "type": RUN_REQUESTED,
            "source": "/corpus",
            "id": "good",
            "datacontenttype": "application/json",
        },
        {"agent": "helper", "task": "hi"},
    )
    bus.publish(good)
    dead = _dead_letters(nats_url, len(NATS))
    deadline = time.monotonic() + 20
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e.get_id() for e in seen] == ["good"]
    assert len(dead) == len(NATS)
    for case, message in zip(NATS, dead, strict=True):
        assert message.headers["Baton-Error"] == "MalformedEvent", case["name"]
        assert case["expect"]["says"] in message.headers["Baton-Error-Message"], case["name"]
        assert message.data == expand_bytes(case["data"])
