"""NATS shape: complete runs/s with N worker processes, beside the embedded shape.

Method: for each N a fresh nats-server (JetStream, file storage), a fresh SQLite
store, the source and N worker processes each serving every function
(bench.deployment). After 3 warm-up runs, ``runs`` AgentRuns of the scenario
(2 model turns around 1 tool call, instant scripted model) are created in the
store at once; the clock stops when the store shows all of them terminal
(polled every 50 ms). CPU per run is the user+system time of the source and
workers (and, separately, nats-server) over the batch, read from /proc.

Baseline: the embedded shape (one process, in-process bus, 32 workers) running
the same scenario and the same number of runs in the same benchmark run. The
raw JetStream publish -> pull-consumer fetch round trip (tests/bench/nats_bench)
is measured on its own server and kept in the details: every transition pays
at least one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import Baseline, Figure, Result, Timer
from bench.scenario import Scenario, scenario

__all__ = ["measure_embedded", "measure_nats", "raw_round_trip", "run"]

WARM = 3


def measure_nats(sc: Scenario, workers: int, runs: int) -> dict[str, Any]:
    """Runs/s and CPU per run of ``runs`` runs at once through ``workers`` worker processes."""
    from bench.deployment import nats_deployment

    with nats_deployment(sc, workers=workers) as deployment:
        deployment.complete(sc, [f"warm-{i}" for i in range(WARM)])
        names = [f"n{workers}-{i}" for i in range(runs)]
        cpu_before = deployment.cpu_seconds()
        started = time.perf_counter()
        ok = deployment.complete(sc, names)
        elapsed = time.perf_counter() - started
        cpu_after = deployment.cpu_seconds()
    cpu = {k: (cpu_after[k] - cpu_before[k]) / runs * 1000 for k in cpu_after}
    return {
        "workers": workers,
        "runs": runs,
        "seconds": elapsed,
        "runs_per_s": runs / elapsed,
        "cpu_ms_per_run": cpu["baton"],
        "nats_server_cpu_ms_per_run": cpu["nats_server"],
        "succeeded": ok,
    }


def measure_embedded(sc: Scenario, runs: int) -> dict[str, Any]:
    """Runs/s and CPU per run of the same batch through the embedded shape."""
    from bench.workload import complete, embedded, succeeded

    with embedded(sc, keep_timeline=False) as (runtime, timeline, _):
        complete(runtime, timeline, sc, [f"warm-{i}" for i in range(WARM)])
        names = [f"e-{i}" for i in range(runs)]
        with Timer() as t:
            complete(runtime, timeline, sc, names)
        ok = succeeded(runtime, names)
    return {
        "runs": runs,
        "seconds": t.elapsed,
        "runs_per_s": runs / t.elapsed,
        "cpu_ms_per_run": t.cpu / runs * 1000,
        "succeeded": ok,
    }


def raw_round_trip(n: int) -> dict[str, Any]:
    """p50/p99 of a bare JetStream publish -> fetch -> ack, or why it was not measured."""
    from bench.external import NotAvailable, entry_point
    from functions.runtime.natsserver import local_nats_server

    try:
        bench_raw = entry_point("tests.bench.nats_bench", "bench_raw")
    except NotAvailable as exc:
        return {"not_available": str(exc)}
    with (
        tempfile.TemporaryDirectory(prefix="baton-bench-raw-") as tmp,
        local_nats_server(Path(tmp) / "js", graceful=False) as server,
    ):
        return dict(bench_raw(server.url, n))


def run(quick: bool = False, *, runs: int = 0, workers: tuple[int, ...] = (1, 2, 4)) -> Result:
    """Runs/s through 1, 2 and 4 worker processes beside the embedded shape's runs/s."""
    runs = runs or (20 if quick else 200)
    sc = scenario()
    res = Result(
        "nats-runs",
        params={"runs": runs, "workers": list(workers), "turns": 2, "tool_calls": 1},
    )
    emb = measure_embedded(sc, runs)
    sweep = [measure_nats(sc, n, runs) for n in workers]
    raw = raw_round_trip(50 if quick else 500)
    for point in sweep:
        n = point["workers"]
        res.add(
            Figure(
                f"complete runs/s, {n} worker process{'es' if n > 1 else ''}",
                point["runs_per_s"],
                "runs/s",
                Baseline("embedded runs/s", emb["runs_per_s"]),
                note=f"{point['succeeded']}/{runs} Succeeded",
            )
        )
    one = sweep[0]
    res.add(
        Figure(
            f"CPU per run, {one['workers']} worker (workers + source)",
            one["cpu_ms_per_run"],
            "ms",
            Baseline("embedded CPU per run", emb["cpu_ms_per_run"]),
            note=f"nats-server adds {one['nats_server_cpu_ms_per_run']:.2f} ms",
        )
    )
    res.details = {
        "embedded": emb,
        "nats": sweep,
        "raw_jetstream_round_trip": raw,
        "succeeded": f"{sum(p['succeeded'] for p in sweep)}/{runs * len(sweep)}",
        "method": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
    }
    return res


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=0)
    args = parser.parse_args()
    json.dump(run(args.quick, runs=args.runs).record(), sys.stdout, indent=2)
