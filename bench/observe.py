"""Observability overhead: per-transition latency with metrics, run Events and tracing on vs off.

Method: the embedded per-transition overhead (see bench.embedded: event in -> next event
out, minus the time inside the Model and Toolbox seams) of runs going one at a time, in
three settings measured in the same process, in alternating rounds so drift hits each
alike: everything off (``BATON_METRICS=0``, ``BATON_EVENTS=0``, no tracing; the bare
baseline), metrics and run Events on (the default), and those plus tracing with the real
OTLP/HTTP exporter posting to a loopback collector that discards. The model and tool
timers sit inside the observers here, so their cost counts as transition overhead.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.embedded import overheads
from bench.harness import Baseline, Figure, Result, percentile
from bench.scenario import Scenario, scenario
from bench.workload import CallClock, Timeline, _TimedModels, _TimedTools, complete

__all__ = ["run"]

_SETTINGS: dict[str, dict[str, str]] = {
    "off": {"BATON_METRICS": "0", "BATON_EVENTS": "0"},
    "metrics + events": {"BATON_METRICS": "1", "BATON_EVENTS": "1"},
    "metrics + events + tracing": {"BATON_METRICS": "1", "BATON_EVENTS": "1"},
}


class _Discard(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _collector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _env(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _round(sc: Scenario, names: list[str]) -> list[float]:
    """Per-transition overheads (s) of ``names`` run one at a time on a fresh runtime."""
    from functions.channels import ChatChannels
    from functions.models import ModelRegistry
    from functions.observe.wiring import observed
    from functions.ports import Deps
    from functions.resources.sqlite import SqliteStore
    from functions.runtime.deps import SystemClock
    from functions.runtime.embedded import Embedded
    from functions.tools import AgentToolbox

    with tempfile.TemporaryDirectory(prefix="baton-bench-observe-") as tmp:
        db = f"{tmp}/state.db"
        store = SqliteStore(db)
        clock = CallClock()
        models, tools = (
            _TimedModels(ModelRegistry(), clock),
            _TimedTools(AgentToolbox(store), clock),
        )
        raw = Deps(store, models, tools, SystemClock(), ChatChannels.from_env())
        runtime = Embedded(db, sweep_interval=0, deps=observed(raw), store=store)
        timeline = Timeline(True)
        runtime.bus.tap(timeline)
        with runtime:
            from functions.cli.manifests import apply

            apply(runtime.store, sc.resources())
            complete(runtime, timeline, sc, [f"warm-{i}" for i in range(3)])
            for name in names:
                complete(runtime, timeline, sc, [name], timeout=60)
        store.close()
    per_fn = overheads(timeline, clock, [f"default/{n}" for n in names])
    return [v for vs in per_fn.values() for v in vs]


def run(quick: bool = False) -> Result:
    """p50/p99 transition overhead with the observers on, beside everything off."""
    rounds, runs = (1, 10) if quick else (4, 50)
    res = Result("observe", params={"rounds": rounds, "runs_per_round": runs})
    sc = scenario()
    samples: dict[str, list[float]] = {name: [] for name in _SETTINGS}
    with _collector() as url:
        tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
        for r in range(rounds):
            for name, env in _SETTINGS.items():
                full = {**env, **(tracing if "tracing" in name else {})}
                with _env(full):
                    if "tracing" not in name:
                        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
                    samples[name] += _round(sc, [f"{name[:3]}-{r}-{i}" for i in range(runs)])
        from functions import tracing

        tracing.shutdown()  # before the collector goes: later benchmarks export nothing
    off = [v * 1000 for v in samples["off"]]
    for name in ("metrics + events", "metrics + events + tracing"):
        on = [v * 1000 for v in samples[name]]
        for pct in (50, 99):
            res.add(
                Figure(
                    f"transition overhead p{pct}, {name}",
                    percentile(on, pct),
                    "ms",
                    Baseline(f"observability off p{pct}", percentile(off, pct)),
                )
            )
    res.details = {
        "samples": {k: len(v) for k, v in samples.items()},
        "method": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
    }
    return res
