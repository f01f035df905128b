"""Workers outlive a nats-server restart: durable consumers and the stream are on disk."""

from __future__ import annotations

from pathlib import Path

from events.bus import Subscription
from events.buses.jetstream import JetStreamBus, JetStreamConfig
from events.types import RUN_ACCEPTED
from functions.runtime.natsserver import local_nats_server
from tests.fakes.events import valid_event
from tests.fixtures.nats import require_nats_server, running_nats_server
from tests.nats.conftest import Recorder


def test_delivery_resumes_after_the_server_is_killed_and_restarted(tmp_path: Path) -> None:
    """SIGKILL the server, start it again on the same port and store: events flow again."""
    store = tmp_path / "jetstream"
    seen = Recorder()
    with running_nats_server(store) as first:
        port = int(first.url.rsplit(":", 1)[1])
        bus = JetStreamBus(JetStreamConfig(url=first.url))
        try:
            bus.subscribe(
                Subscription("prepare", {"type": RUN_ACCEPTED}, lambda e: seen.add(e) or [])
            )
            bus.publish(valid_event(RUN_ACCEPTED, "before"))
            seen.wait_for(1)
        except BaseException:
            bus.close()
            raise
    try:
        with running_nats_server(store, port=port):
            bus.publish(valid_event(RUN_ACCEPTED, "after"))
            assert [e.get_id() for e in seen.wait_for(2, timeout=20)] == ["before", "after"]
    finally:
        bus.close()


def test_a_local_server_for_baton_up_keeps_its_stream_across_a_clean_stop(tmp_path: Path) -> None:
    """local_nats_server stops with SIGTERM (exit 0) and the next one finds the events."""
    require_nats_server()
    seen = Recorder()
    store = tmp_path / "js"
    with local_nats_server(store) as first, JetStreamBus(JetStreamConfig(url=first.url)) as bus:
        bus.publish(valid_event(RUN_ACCEPTED, "kept"))
    assert first.process.returncode == 0
    with local_nats_server(store) as second, JetStreamBus(JetStreamConfig(url=second.url)) as bus:
        bus.subscribe(Subscription("prepare", {"type": RUN_ACCEPTED}, lambda e: seen.add(e) or []))
        assert [e.get_id() for e in seen.wait_for(1)] == ["kept"]
