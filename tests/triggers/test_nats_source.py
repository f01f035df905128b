"""A nats source: CloudEvents on a subject, through a durable consumer of a real nats-server."""

from __future__ import annotations

import asyncio

from events.codecs.nats import to_binary, to_structured
from events.envelope import make_event
from functions.ports import Deps
from functions.resources.sqlite import SqliteStore
from functions.runtime.triggers import TriggerFeeds
from tests.fixtures.nats import nats_server, nats_url
from tests.triggers.conftest import runs_of, trigger, wait_for

__all__ = ["nats_server", "nats_url"]

SUBJECT = "alerts.payments"
ALERT = "io.prometheus.alert.firing"


def _publish(url: str, payloads: list[tuple[dict[str, str], bytes]]) -> None:
    async def send() -> None:
        import nats

        nc = await nats.connect(url)
        js = nc.jetstream()
        for headers, data in payloads:
            await js.publish(SUBJECT, data, headers=headers or None)
        await nc.close()

    asyncio.run(send())


def _alert(id_: str, name: str, structured: bool = False) -> tuple[dict[str, str], bytes]:
    event = make_event(ALERT, "/alertmanager/prod", {"alertname": name, "severity": "page"},
                       id_=id_)  # fmt: skip
    message = to_structured(event) if structured else to_binary(event)
    return dict(message.headers), message.data


def _feeds(deps: Deps, url: str) -> TriggerFeeds:
    feeds = TriggerFeeds(deps, nats_url=url, poll=0.2)
    feeds.start()
    wait_for(lambda: "default.on-alert" in feeds.nats_feeds, what="the consumer")
    wait_for(feeds.nats_feeds["default.on-alert"].ready.is_set, what="the consumer to be ready")
    return feeds


def test_events_on_a_subject_start_runs_once_and_survive_a_restart(
    store: SqliteStore, deps: Deps, nats_url: str
) -> None:
    """Binary and structured events start runs; a duplicate and a non-event start none; what
    was published while baton was down is delivered when it is back (durable consumer)."""
    store.create(
        trigger(
            "on-alert",
            {"nats": {"subject": SUBJECT}},
            "Alert {{ data.alertname }} is firing ({{ data.severity }})",
            when='data.severity == "page"',
        )
    )
    feeds = _feeds(deps, nats_url)
    _publish(
        nats_url,
        [
            _alert("a1", "PaymentsLatency"),
            _alert("a1", "PaymentsLatency"),  # the same event again
            ({}, b"not a cloudevent"),
            _alert("a2", "PaymentsErrors", structured=True),
        ],
    )
    wait_for(lambda: len(runs_of(store, "on-alert")) == 2, what="two runs")
    tasks = sorted(r["spec"]["task"] for r in runs_of(store, "on-alert"))
    assert tasks == [
        "Alert PaymentsErrors is firing (page)",
        "Alert PaymentsLatency is firing (page)",
    ]
    feeds.stop()

    _publish(nats_url, [_alert("a3", "LedgerLag")])
    feeds = _feeds(deps, nats_url)
    try:
        wait_for(lambda: len(runs_of(store, "on-alert")) == 3, what="the run for a3")
    finally:
        feeds.stop()
    assert store.get("AgentTrigger", "default", "on-alert")["status"]["runsStarted"] == 3
    assert "Alert LedgerLag is firing (page)" in {
        r["spec"]["task"] for r in runs_of(store, "on-alert")
    }
