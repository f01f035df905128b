"""Benchmark: JetStream round trips, bare nats-py vs through JetStreamBus (no assertions).

Run: .venv/bin/python -m tests.bench.nats_bench [N]   (starts its own nats-server)
or call ``bench_nats(url, n)`` from the bench harness. Sequential, one event in flight,
so the numbers are latencies, not throughput.

- raw: ``js.publish`` (PubAck awaited) -> ``PullSubscription.fetch(1)`` -> ack; the floor.
- bus hop 1: ``bus.publish`` -> first handler entered.
- bus hop 2 (per transition): first handler entered -> it returns one event -> published,
  original acked -> second handler entered. This is "event in -> next event out" plus
  delivery, what DESIGN.md's NATS p50 <= 2 ms / p99 <= 10 ms target is about.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import time
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events.bus import Subscription
from events.buses.jetstream import JetStreamBus, JetStreamConfig
from events.envelope import CloudEvent
from events.types import LLM_REQUESTED, RUN_ACCEPTED
from tests.fakes.events import valid_event

__all__ = ["bench_nats", "main"]

WARMUP = 20


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50_ms": statistics.median(ordered) * 1000, "p99_ms": p99 * 1000}


def bench_raw(url: str, n: int) -> dict[str, float]:
    """Bare JetStream publish -> pull-consumer fetch round trip."""
    import nats

    async def run() -> list[float]:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await js.add_stream(name="RAWBENCH", subjects=["rawbench.>"], storage="memory")
        sub = await js.pull_subscribe("rawbench.x", durable="raw", stream="RAWBENCH")
        samples = []
        for i in range(n + WARMUP):
            start = time.perf_counter()
            await js.publish("rawbench.x", b'{"n": %d}' % i, headers={"Nats-Msg-Id": str(i)})
            msgs = await sub.fetch(1, timeout=5)
            samples.append(time.perf_counter() - start)
            await msgs[0].ack()
        await js.delete_stream("RAWBENCH")
        await nc.close()
        return samples[WARMUP:]

    return _percentiles(asyncio.run(run()))


def bench_bus(url: str, n: int, storage: str = "memory") -> dict[str, dict[str, float]]:
    """publish -> handler -> publish reply -> second handler, through JetStreamBus."""
    entered: dict[str, float] = {}
    ready = threading.Semaphore(0)

    def prepare(event: BaseCloudEvent) -> list[CloudEvent]:
        entered[event.get_id()] = time.perf_counter()
        return [valid_event(LLM_REQUESTED, f"{event.get_id()}/llm", source="/bench")]

    def call_llm(event: BaseCloudEvent) -> list[CloudEvent]:
        entered[event.get_id()] = time.perf_counter()
        ready.release()
        return []

    hop1: list[float] = []
    hop2: list[float] = []
    stream, prefix = f"BUSBENCH_{storage.upper()}", f"busbench{storage}"
    config = JetStreamConfig(url=url, stream=stream, prefix=prefix, storage=storage)
    with JetStreamBus(config) as bus:
        bus.subscribe(Subscription("prepare_context", {"type": RUN_ACCEPTED}, prepare))
        bus.subscribe(Subscription("call_llm", {"type": LLM_REQUESTED}, call_llm))
        for i in range(n + WARMUP):
            id_ = f"run-{i}"
            start = time.perf_counter()
            bus.publish(valid_event(RUN_ACCEPTED, id_, source="/bench"))
            ready.acquire()
            if i >= WARMUP:
                hop1.append(entered[id_] - start)
                hop2.append(entered[f"{id_}/llm"] - entered[id_])
    return {"hop1": _percentiles(hop1), "transition": _percentiles(hop2)}


def bench_nats(url: str | None = None, n: int = 1000) -> dict[str, Any]:
    """All figures in one run, so the bus is always printed beside its floor."""
    if url is None:
        from tests.fixtures.nats import running_nats_server

        with running_nats_server() as server:
            return bench_nats(server.url, n)
    return {
        "n": n,
        "raw": bench_raw(url, n),
        "bus": bench_bus(url, n, "memory"),
        "bus_file": bench_bus(url, n, "file"),
    }


def main() -> None:
    """Print the figures."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    result = bench_nats(None, n)
    raw = result["raw"]
    print(f"N={n}, one event in flight, loopback")
    print(
        f"raw publish->fetch (memory)      p50 {raw['p50_ms']:.3f} ms  p99 {raw['p99_ms']:.3f} ms"
    )
    for key, storage in (("bus", "memory"), ("bus_file", "file")):
        for name, label in (("hop1", "bus publish->handler"), ("transition", "bus per transition")):
            f = result[key][name]
            label = f"{label} ({storage})"
            print(f"{label:<32} p50 {f['p50_ms']:.3f} ms  p99 {f['p99_ms']:.3f} ms")


if __name__ == "__main__":
    main()
