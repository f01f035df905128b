"""Probe: does a nats-py ``fetch()`` loop hold the first message after an idle spell?

Run: .venv/bin/python -m tests.nats.stall_probe 10 30 60   (idle seconds; own nats-server)
     .venv/bin/python -m tests.nats.stall_probe orphan     (the stall, deterministically)

Several consumers, each a plain ``while True: fetch()`` loop with different batch sizes,
timeouts and heartbeats (the ways workers usually write it), plus JetStreamBus's PullLoop
as the control. After each idle spell one message per consumer is published from another
connection and the delivery latency printed. Loops that see a *bare*
``asyncio.TimeoutError`` (not ``nats.errors.TimeoutError``) say so: a loop that catches
only the latter dies there. Not collected by pytest.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from tests.fixtures.nats import running_nats_server

# name: (batch, fetch timeout s, idle heartbeat s or None)
VARIANTS: dict[str, tuple[int, float, float | None]] = {
    "fetch1-t1": (1, 1, None),
    "fetch1-t5": (1, 5, None),
    "fetch1-t30": (1, 30, None),
    "fetch10-t2": (10, 2, None),
    "fetch10-t5": (10, 5, None),
    "fetch10-t5-hb1": (10, 5, 1),
    "fetch10-t30": (10, 30, None),
}
LOOP = "pull-loop"


async def _fetch_loop(url: str, name: str, received: dict[str, list[Any]]) -> None:
    import nats

    batch, timeout, heartbeat = VARIANTS[name]
    nc = await nats.connect(url)
    sub = await nc.jetstream().pull_subscribe(f"probe.{name}", durable=name, stream="PROBE")
    while True:
        try:
            msgs = await sub.fetch(batch, timeout=timeout, heartbeat=heartbeat)
        except nats.errors.TimeoutError:
            continue
        except TimeoutError:
            print(f"{name}: bare asyncio.TimeoutError from fetch()", flush=True)
            continue
        for msg in msgs:
            received[name].append((time.monotonic(), msg.data))
            await msg.ack()


async def _pull_loop(url: str, received: dict[str, list[Any]]) -> None:
    import nats
    from nats.js.api import ConsumerConfig

    from events.buses.jetstream_pull import PullLoop

    nc = await nats.connect(url)
    config = ConsumerConfig(durable_name=LOOP, name=LOOP, filter_subject=f"probe.{LOOP}")
    await nc.jetstream().add_consumer("PROBE", config)

    async def on_message(msg: Any) -> None:
        received[LOOP].append((time.monotonic(), msg.data))
        await msg.ack()

    pull = PullLoop(
        nc, stream="PROBE", consumer=LOOP, on_message=on_message, max_in_flight=4,
        expires=30, heartbeat=5,
    )  # fmt: skip
    await pull.run()


async def probe(idles: list[int]) -> None:
    """Print the first-message latency of every consumer after each idle spell."""
    import nats

    with running_nats_server() as server:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="PROBE", subjects=["probe.>"])
        names = [*VARIANTS, LOOP]
        received: dict[str, list[Any]] = {name: [] for name in names}
        tasks = [asyncio.create_task(_fetch_loop(server.url, n, received)) for n in VARIANTS]
        tasks.append(asyncio.create_task(_pull_loop(server.url, received)))
        await asyncio.sleep(1)
        for idle in idles:
            for name in names:
                await js.publish(f"probe.{name}", b"warm")
            await asyncio.sleep(0.5 + idle)
            marker = f"after-{idle}".encode()
            sent = {}
            for name in names:
                sent[name] = time.monotonic()
                await js.publish(f"probe.{name}", marker)
            await asyncio.sleep(8)
            for name in names:
                got = [t for t, data in received[name] if data == marker]
                text = f"{got[0] - sent[name]:.3f} s" if got else "not delivered within 8 s"
                print(f"idle {idle:>3} s  {name:<15} {text}", flush=True)
        for task in tasks:
            task.cancel()
        await nc.close()


async def orphan_probe(batch: int) -> float:
    """Seconds ``fetch(batch)`` takes to return a message when an orphaned lingering pull
    request (batch 10, 4 s, as an abandoned fetch leaves) sits on its inbox."""
    import json

    import nats

    with running_nats_server() as server:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="PROBE", subjects=["probe.>"])
        sub = await js.pull_subscribe("probe.orphan", durable="orphan", stream="PROBE")
        orphan = {"batch": 10, "expires": 4_000_000_000}
        next_subject = "$JS.API.CONSUMER.MSG.NEXT.PROBE.orphan"
        await nc.publish(next_subject, json.dumps(orphan).encode(), reply=sub._deliver)
        await nc.flush()
        fetching = asyncio.create_task(sub.fetch(batch, timeout=5))
        await asyncio.sleep(0.5)
        sent = time.monotonic()
        await js.publish("probe.orphan", b"x")
        await fetching
        took = time.monotonic() - sent
        await nc.close()
        return took


if __name__ == "__main__":
    if sys.argv[1:] == ["orphan"]:
        for size in (1, 10):
            took = asyncio.run(orphan_probe(size))
            print(f"fetch({size}) beside an orphaned pull request: {took:.3f} s", flush=True)
    else:
        asyncio.run(probe([int(a) for a in sys.argv[1:]] or [10, 30, 60]))
