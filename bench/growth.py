"""Growth: runs/s and per-transition overhead as stored history and transcripts grow.

Cost must not grow with history a transition does not touch. Two sweeps, each
figure beside the same measurement at the sweep's smallest size (taken in the
same run, on the same machine) as its baseline:

- stored runs: one embedded runtime is filled with finished runs (driven
  through the real chain, so their journals, event log rows and change log are
  real) to 10, 100, 1,000, 10,000; at each level a fresh set of runs is timed
  (one at a time for overhead, all at once for runs/s) and then deleted, so the
  next level starts from exactly its count.
- transcripts: runs of 1, 10 and 100 model turns (a tool call between turns).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench.embedded import batch, per_function_ms, sequential
from bench.harness import Baseline, Figure, Result, percentile
from bench.scenario import scenario
from bench.workload import complete, embedded, succeeded

__all__ = ["run", "stored_runs", "transcripts"]

FILL_CHUNK = 500


def _delete(runtime: Any, names: list[str]) -> None:
    for name in names:
        runtime.store.delete("AgentRun", "default", name)
    runtime.bus.wait_idle(60)


def stored_runs(levels: list[int], seq_runs: int, batch_runs: int) -> list[dict[str, Any]]:
    """Overheads and runs/s at each count of finished runs already stored."""
    sc = scenario()
    points = []
    with embedded(sc) as (runtime, timeline, clock):
        stored = 0
        for level in levels:
            while stored < level:
                chunk = min(FILL_CHUNK, level - stored)
                complete(runtime, timeline, sc, [f"fill-{stored + i}" for i in range(chunk)])
                stored += chunk
            seq_names = [f"seq-{level}-{i}" for i in range(seq_runs)]
            per_fn = sequential(runtime, timeline, clock, sc, seq_names)
            batch_names = [f"batch-{level}-{i}" for i in range(batch_runs)]
            seconds = batch(runtime, timeline, sc, batch_names).elapsed
            ok = succeeded(runtime, seq_names + batch_names)
            _delete(runtime, seq_names + batch_names)
            points.append(_point(level, per_fn, batch_runs, seconds, ok, seq_runs + batch_runs))
    return points


def transcripts(turn_counts: list[int], seq_runs: int, batch_runs: int) -> list[dict[str, Any]]:
    """Overheads and runs/s for runs of each number of model turns."""
    points = []
    for turns in turn_counts:
        sc = scenario(turns=turns)
        # Long runs are many transitions each: keep the transitions measured comparable.
        seq_n = max(3, seq_runs // turns)
        batch_n = max(5, batch_runs // turns)
        with embedded(sc) as (runtime, timeline, clock):
            complete(runtime, timeline, sc, ["warm-0"])
            seq_names = [f"seq-{i}" for i in range(seq_n)]
            per_fn = sequential(runtime, timeline, clock, sc, seq_names)
            batch_names = [f"batch-{i}" for i in range(batch_n)]
            seconds = batch(runtime, timeline, sc, batch_names).elapsed
            ok = succeeded(runtime, seq_names + batch_names)
        points.append(_point(turns, per_fn, batch_n, seconds, ok, seq_n + batch_n))
    return points


def _point(
    size: int, per_fn: dict[str, list[float]], runs: int, seconds: float, ok: int, total: int
) -> dict[str, Any]:
    ms = [v * 1000 for vs in per_fn.values() for v in vs]
    return {
        "size": size,
        "runs_per_s": runs / seconds,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "succeeded": f"{ok}/{total}",
        "per_transition_ms": per_function_ms(per_fn),
    }


def _figures(res: Result, points: list[dict[str, Any]], label: str) -> None:
    first = points[0]
    for p in points:
        at = f"{p['size']:,} {label}"
        base = f"at {first['size']:,} {label}"
        res.add(
            Figure(f"runs/s, {at}", p["runs_per_s"], "runs/s", Baseline(base, first["runs_per_s"]))
        )
        if label == "turns":  # runs of n turns are n times the work: turns/s is the flat line
            res.add(
                Figure(
                    f"model turns/s, {at}",
                    p["runs_per_s"] * p["size"],
                    "turns/s",
                    Baseline(base, first["runs_per_s"] * first["size"]),
                )
            )
        res.add(Figure(f"transition p50, {at}", p["p50_ms"], "ms", Baseline(base, first["p50_ms"])))


def run(quick: bool = False) -> Result:
    """Both sweeps; quick stops at 100 stored runs and 10 turns."""
    levels = [10, 100] if quick else [10, 100, 1_000, 10_000]
    turns = [1, 10] if quick else [1, 10, 100]
    seq_runs, batch_runs = (10, 50) if quick else (50, 300)
    res = Result(
        "growth",
        params={
            "stored_runs": levels,
            "turns": turns,
            "sequential_runs": seq_runs,
            "batch_runs": batch_runs,
        },
    )
    stored = stored_runs(levels, seq_runs, batch_runs)
    turned = transcripts(turns, seq_runs, batch_runs)
    _figures(res, stored, "stored runs")
    _figures(res, turned, "turns")
    res.details = {
        "stored_runs": stored,
        "transcripts": turned,
        "method": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
    }
    return res


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    json.dump(run(args.quick).record(), sys.stdout, indent=2)
