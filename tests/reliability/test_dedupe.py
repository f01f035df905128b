"""Buses drop a repeated event by CloudEvents source + id, never by id alone.

Two producers that happen to use the same id (a chat platform's message id, a client's
request id) are two events; the same producer sending the same id twice is one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cloudevents.core.base import BaseCloudEvent

from events.bus import Subscription
from events.envelope import CloudEvent, make_event
from tests.fixtures.nats import nats_server, nats_url

__all__ = ["nats_server", "nats_url"]  # fixtures

TYPE = "dev.baton.test.dedupe"


class Seen:
    """Events a handler received, and a wait for a count."""

    def __init__(self) -> None:
        self.events: list[BaseCloudEvent] = []
        self._changed = threading.Condition()

    def handle(self, event: BaseCloudEvent) -> list[CloudEvent]:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()
        return []

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, str]]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.events) >= count, timeout)
            return sorted((str(e.get_source()), e.get_id()) for e in self.events)


def _event(source: str, id_: str) -> CloudEvent:
    return make_event(TYPE, source, {"from": source}, id_=id_)


@pytest.fixture(params=["inprocess", "jetstream"])
def bus(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each bus a shape uses, with one subscriber recording what it gets."""
    if request.param == "inprocess":
        from events.buses.inprocess import InProcessBus

        made: Any = InProcessBus(workers=2)
    else:
        from events.buses.jetstream import JetStreamBus, JetStreamConfig

        url = request.getfixturevalue("nats_url")
        made = JetStreamBus(JetStreamConfig(url=url, storage="memory"))
    try:
        yield made
    finally:
        made.close()


def test_the_same_id_from_two_sources_is_delivered_twice(bus: Any) -> None:
    """Two producers' events with one id both reach the subscriber."""
    seen = Seen()
    bus.subscribe(Subscription("recorder", {"type": TYPE}, seen.handle))
    bus.publish(_event("/producer/a", "42"))
    bus.publish(_event("/producer/b", "42"))
    assert seen.wait_for(2) == [("/producer/a", "42"), ("/producer/b", "42")]


def test_the_same_id_from_one_source_is_delivered_once(bus: Any) -> None:
    """A producer sending its event twice is one delivery."""
    seen = Seen()
    bus.subscribe(Subscription("recorder", {"type": TYPE}, seen.handle))
    bus.publish(_event("/producer/a", "42"))
    bus.publish(_event("/producer/a", "42"))
    bus.publish(_event("/producer/a", "43"))  # a later event shows the repeat was dropped
    assert seen.wait_for(2) == [("/producer/a", "42"), ("/producer/a", "43")]
    # Both delivered (however slow the bus was to start): a repeat has 3 s more to show up.
    assert seen.wait_for(3, timeout=3.0) == [("/producer/a", "42"), ("/producer/a", "43")]
