"""Fixtures for the NATS tests: a fresh JetStream server per test and buses on it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.base import BaseCloudEvent

from events.buses.jetstream import JetStreamBus, JetStreamConfig
from tests.fixtures.nats import nats_server, nats_url
from tests.nats.shape import Shape

__all__ = ["Recorder", "make_bus", "nats_server", "nats_shape", "nats_url", "with_jetstream"]

MakeBus = Callable[..., JetStreamBus]


class Recorder:
    """Collects the events a handler saw, thread-safely, and waits for a count."""

    def __init__(self) -> None:
        self.events: list[BaseCloudEvent] = []
        self._changed = threading.Condition()

    def add(self, event: BaseCloudEvent) -> None:
        """Record one event."""
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[BaseCloudEvent]:
        """The events once there are ``count`` of them; AssertionError after ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.events) >= count, timeout):
                raise AssertionError(f"saw {len(self.events)} events, expected {count}")
            return list(self.events)


@pytest.fixture
def make_bus(nats_url: str) -> Iterator[MakeBus]:
    """Build JetStreamBus instances on the test's server; all are closed at teardown."""
    buses: list[JetStreamBus] = []

    def make(**overrides: Any) -> JetStreamBus:
        config = replace(JetStreamConfig(url=nats_url, storage="memory"), **overrides)
        bus = JetStreamBus(config)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        bus.close()


def with_jetstream(url: str, use: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``use(js)`` on a fresh connection (to look at streams, consumers, messages)."""
    import nats

    async def run() -> Any:
        nc = await nats.connect(url)
        try:
            return await use(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(run())


@pytest.fixture
def nats_shape(nats_url: str, tmp_path: Path) -> Iterator[Shape]:
    """A NATS deployment (not started) on the test's server; stopped at teardown."""
    shape = Shape(nats_url, tmp_path)
    yield shape
    shape.stop()
