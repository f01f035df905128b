"""AgentTrigger benchmarks: event -> run start per source kind, and filtering throughput.

Each figure is returned beside its bare floor measured in the same run:

- cloudEvent: ``baton serve``'s path for a trigger (offer -> status write -> run created)
  vs a bare in-process bus publish -> handler hop;
- schedule: a due fire handled by the timer's pass vs a pass with nothing due;
- nats: publish on the subject -> run in the store vs a raw JetStream publish -> fetch;
- kubernetes: a Pod status write -> run in the store vs the same write -> a bare watch
  seeing it (envtest's kube-apiserver);
- filtering: events/s through a trigger whose condition rejects 99 % vs the bare bus.

Returned as plain dicts (``bench.external`` turns them into figures).
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.harness import summary
from events.bus import Subscription
from events.buses.inprocess import InProcessBus
from events.envelope import make_event
from functions.ports import Deps
from functions.resources.sqlite import SqliteStore
from functions.runtime.deps import build_deps
from functions.runtime.triggers import TriggerFeeds
from functions.trigger import offer_event

__all__ = ["bench_triggers"]


class _NoChannels:
    def post(self, routing: Any, text: str, idempotency_key: str) -> None:
        """Nothing is delivered in a benchmark."""


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def _trigger(name: str, source: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "AgentTrigger",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"agentRef": {"name": "sre"}, "source": source,
                 "run": {"task": "Look at {{ data.n }}"}, **spec},
    }  # fmt: skip


def _world(tmp: Path) -> tuple[SqliteStore, Deps]:
    store = SqliteStore(str(tmp / "state.db"))
    return store, build_deps(store, channels=_NoChannels())


def _ms(values: list[float]) -> dict[str, float]:
    stats = summary(values)
    return {"p50_ms": stats["p50"] * 1000, "p99_ms": stats["p99"] * 1000, "n": stats["n"]}


def _bare_bus_hop(n: int) -> dict[str, float]:
    bus = InProcessBus(workers=4)
    got = threading.Event()
    bus.subscribe(Subscription("bare", {"type": "bench.hop"}, lambda e: got.set() or []))
    samples = []
    for i in range(n):
        got.clear()
        started = time.perf_counter()
        bus.publish(make_event("bench.hop", "/bench", {"n": i}, id_=f"h{i}"))
        got.wait(5)
        samples.append(time.perf_counter() - started)
    bus.close()
    return _ms(samples)


def _bare_bus_rate(n: int) -> float:
    bus = InProcessBus(workers=4)
    bus.subscribe(Subscription("bare", {"type": "bench.rate"}, lambda e: []))
    events = [make_event("bench.rate", "/bench", {"n": i}, id_=f"r{i}") for i in range(n)]
    started = time.perf_counter()
    for event in events:
        bus.publish(event)
    bus.wait_idle(60)
    elapsed = time.perf_counter() - started
    bus.close()
    return n / elapsed


def _cloud_event(tmp: Path, n: int) -> dict[str, Any]:
    store, deps = _world(tmp)
    store.create(_trigger("ce", {"cloudEvent": {"type": "bench.ce"}}))
    samples = []
    for i in range(n):
        event = make_event("bench.ce", "/bench", {"n": i}, id_=f"c{i}")
        started = time.perf_counter()
        offer_event(deps, event)
        samples.append(time.perf_counter() - started)
    runs = len(store.list("AgentRun", "default"))
    return {"trigger": _ms(samples), "runs": runs}


def _filter_rate(tmp: Path, n: int) -> dict[str, Any]:
    store, deps = _world(tmp)
    store.create(_trigger("f", {"cloudEvent": {"type": "bench.f"}}, when="data.n % 100 == 0"))
    events = [make_event("bench.f", "/bench", {"n": i}, id_=f"f{i}") for i in range(n)]
    started = time.perf_counter()
    for event in events:
        offer_event(deps, event)
    elapsed = time.perf_counter() - started
    return {"events_per_s": n / elapsed, "runs": len(store.list("AgentRun", "default"))}


def _schedule(tmp: Path, n: int) -> dict[str, Any]:
    store, deps = _world(tmp)
    clock = _Clock(time.time())
    deps = dataclasses.replace(deps, clock=clock)
    store.create(_trigger("s", {"schedule": {"cron": "* * * * *"}}, run={"task": "tick"}))
    feeds = TriggerFeeds(deps)
    feeds.poll_once()
    start = (int(clock.t // 60) + 1) * 60
    due, idle = [], []
    for i in range(n):
        clock.t = start + 60 * i + 0.5
        began = time.perf_counter()
        feeds.poll_once()
        due.append(time.perf_counter() - began)
        began = time.perf_counter()
        feeds.poll_once()
        idle.append(time.perf_counter() - began)
    return {"fire": _ms(due), "idle_pass": _ms(idle), "runs": len(store.list("AgentRun"))}


def _wait_runs(store: SqliteStore, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(store.list("AgentRun", "default")) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} runs not started in {timeout} s")
        time.sleep(0.0005)


def _nats(tmp: Path, n: int) -> dict[str, Any]:
    import nats

    from events.codecs.nats import to_binary
    from tests.fixtures.nats import running_nats_server

    with running_nats_server() as server:
        store, deps = _world(tmp)
        store.create(_trigger("n", {"nats": {"subject": "bench.alerts"}}))
        feeds = TriggerFeeds(deps, nats_url=server.url, poll=0.2)
        feeds.start()
        try:
            deadline = time.monotonic() + 10
            while (
                "default.n" not in feeds.nats_feeds
                or not feeds.nats_feeds["default.n"].ready.is_set()
            ):
                if time.monotonic() > deadline:
                    raise TimeoutError("NATS consumer not ready")
                time.sleep(0.01)

            async def publish_all() -> tuple[list[float], list[float]]:
                nc = await nats.connect(server.url)
                js = nc.jetstream()
                trigger_samples = []
                for i in range(n):
                    message = to_binary(make_event("bench.alert", "/bench", {"n": i}, id_=f"n{i}"))
                    started = time.perf_counter()
                    await js.publish("bench.alerts", message.data, headers=message.headers)
                    await asyncio.get_running_loop().run_in_executor(None, _wait_runs, store, i + 1)
                    trigger_samples.append(time.perf_counter() - started)
                await js.add_stream(name="BENCHRAW", subjects=["bench.raw"])
                sub = await js.pull_subscribe("bench.raw", durable="raw")
                raw_samples = []
                for _ in range(n):
                    started = time.perf_counter()
                    await js.publish("bench.raw", b"x")
                    [msg] = await sub.fetch(1, timeout=5)
                    await msg.ack()
                    raw_samples.append(time.perf_counter() - started)
                await nc.close()
                return trigger_samples, raw_samples

            triggered, raw = asyncio.run(publish_all())
        finally:
            feeds.stop()
    return {"trigger": _ms(triggered), "raw": _ms(raw)}


def _kubernetes(tmp: Path, n: int) -> dict[str, Any]:
    from functions.kube.api import MERGE_PATCH, KubeAPI, connect
    from tests.fixtures.envtest import find_assets, start_envtest

    assets = find_assets()
    if assets is None or not (assets / "kube-apiserver").exists():
        return {"available": False, "reason": "no envtest assets (KUBEBUILDER_ASSETS)"}
    with ExitStack() as stack:
        server = stack.enter_context(start_envtest(assets, tmp / "envtest"))
        api = KubeAPI(connect(server.kubeconfig))
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
               "spec": {"containers": [{"name": "c", "image": "x"}]}}  # fmt: skip
        api.request("POST", "/api/v1/namespaces/default/pods", body=pod)
        path = "/api/v1/namespaces/default/pods/p/status"

        def write(i: int) -> None:
            body = {"status": {"message": f"update {i}"}}
            api.request("PATCH", path, body=body, content_type=MERGE_PATCH)

        # Bare: the same write seen by a plain watch.
        seen: dict[str, float] = {}
        stop = threading.Event()
        version = api.request("GET", "/api/v1/namespaces/default/pods")["metadata"][
            "resourceVersion"
        ]

        def watch() -> None:
            query = {"watch": "true", "resourceVersion": version, "timeoutSeconds": "60"}
            for change in api.stream("/api/v1/namespaces/default/pods", query, 30):
                message = ((change.get("object") or {}).get("status") or {}).get("message")
                if message:
                    seen[message] = time.perf_counter()
                if stop.is_set():
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        time.sleep(0.5)
        bare = []
        for i in range(n):
            started = time.perf_counter()
            write(i)
            while f"update {i}" not in seen:
                time.sleep(0.0002)
            bare.append(seen[f"update {i}"] - started)
        stop.set()
        write(n)  # wakes the watcher so it ends

        store, deps = _world(tmp)
        source = {"kubernetes": {"apiVersion": "v1", "kind": "Pod", "changes": ["update"]}}
        store.create(_trigger("k", source, run={"task": "{{ data.status.message }}"}))
        feeds = stack.enter_context(TriggerFeeds(deps, kubeconfig=str(server.kubeconfig), poll=0.2))
        deadline = time.monotonic() + 10
        while not (store.get("AgentTrigger", "default", "k").get("status") or {}).get("watch"):
            if time.monotonic() > deadline:
                raise TimeoutError("trigger watch did not start")
            time.sleep(0.01)
        time.sleep(0.5)
        triggered = []
        for i in range(n):
            started = time.perf_counter()
            write(1000 + i)
            _wait_runs(store, i + 1)
            triggered.append(time.perf_counter() - started)
        del feeds
    return {"available": True, "trigger": _ms(triggered), "bare": _ms(bare)}


def bench_triggers(quick: bool = False) -> dict[str, Any]:
    """Every trigger figure with its floor (``quick``: small sizes)."""
    n = 50 if quick else 500
    events = 2_000 if quick else 20_000
    with tempfile.TemporaryDirectory(prefix="baton-bench-triggers-") as tmp:
        root = Path(tmp)
        parts = {name: root / name for name in ("ce", "filter", "schedule", "nats", "kube")}
        for folder in parts.values():
            folder.mkdir()
        return {
            "n": n,
            "events": events,
            "cloudEvent": _cloud_event(parts["ce"], n),
            "bus_hop": _bare_bus_hop(n),
            "filter": _filter_rate(parts["filter"], events),
            "bus_rate": _bare_bus_rate(events),
            "schedule": _schedule(parts["schedule"], max(n // 5, 10)),
            "nats": _nats(parts["nats"], max(n // 5, 10)),
            "kubernetes": _kubernetes(parts["kube"], max(n // 5, 10)),
        }
