"""Concurrency at scale: 1,000 runs in flight against a model with 1 s latency.

Every reply of the scripted model sleeps ``delayMs`` (1,000 ms), so a run of 2
model turns and 1 tool call ideally takes 2 s however many run at once: the
ideal is turns x latency. Each measurement runs in a fresh process so its peak
RSS (VmHWM) is its own. The bare baseline is the same runs as plain threads
(one per run) making the same scripted calls with no store or bus.

The in-process bus runs each delivery on a pool thread that blocks for the
whole model call, so ``workers`` bounds how many runs can wait on the model at
once; the full benchmark sweeps it to show what 1,000 runs need.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.harness import Baseline, Figure, Result, Timer, run_child
from bench.machine import peak_rss_mb, rss_mb
from bench.scenario import bare_runs, scenario
from bench.workload import complete, embedded, succeeded

__all__ = ["run"]

TURNS = 2


def child_embedded(runs: int, workers: int, delay_ms: int) -> dict[str, Any]:
    """(In the child) all runs at once through the embedded runtime."""
    sc = scenario(turns=TURNS, delay_ms=delay_ms)
    with embedded(sc, workers=workers, keep_timeline=False) as (runtime, timeline, _):
        idle = rss_mb()
        names = [f"c-{i}" for i in range(runs)]
        with Timer() as t:
            complete(runtime, timeline, sc, names, timeout=max(120.0, runs * 2 * delay_ms / 1000))
        ok = succeeded(runtime, names)
    return {
        "wall": t.elapsed,
        "cpu": t.cpu,
        "succeeded": ok,
        "runs": runs,
        "workers": workers,
        "idle_rss_mb": idle,
        "peak_rss_mb": peak_rss_mb(),
    }


def child_bare(runs: int, delay_ms: int) -> dict[str, Any]:
    """(In the child) one plain thread per run making the same scripted calls."""
    sc = scenario(turns=TURNS, delay_ms=delay_ms)
    bare_runs(scenario(turns=TURNS), 1)  # imports outside the timed part, as embedded warms
    with Timer() as t, ThreadPoolExecutor(max_workers=runs) as pool:
        for _ in pool.map(lambda _i: bare_runs(sc, 1), range(runs)):
            pass
    return {"wall": t.elapsed, "cpu": t.cpu, "runs": runs, "peak_rss_mb": peak_rss_mb()}


def run(
    quick: bool = False, *, runs: int = 0, delay_ms: int = 1000, workers: list[int] | None = None
) -> Result:
    """Wall time vs ideal and peak RSS for ``runs`` concurrent runs, beside bare threads."""
    runs = runs or (200 if quick else 1000)
    sweep = workers or ([runs + 50] if quick else [runs // 4, runs // 2, runs, runs + 100])
    ideal = TURNS * delay_ms / 1000
    res = Result(
        "concurrency",
        params={
            "runs": runs,
            "model_latency_ms": delay_ms,
            "turns": TURNS,
            "tool_calls": 1,
            "workers": sweep,
        },
    )
    bare = run_child(
        "bench.concurrency", "--child", "bare", "--runs", str(runs), "--delay-ms", str(delay_ms)
    )
    points = [
        run_child(
            "bench.concurrency",
            "--child",
            "embedded",
            "--runs",
            str(runs),
            "--workers",
            str(w),
            "--delay-ms",
            str(delay_ms),
        )
        for w in sweep
    ]
    for p in points:  # every worker count: threads block in the model call, so it matters
        at = f"{runs} runs, {p['workers']} workers"
        res.add(
            Figure(
                f"wall / ideal, {at}",
                p["wall"] / ideal,
                "x",
                Baseline("bare threads / ideal", bare["wall"] / ideal),
                target="<= 1.3",
                note=f"ideal {ideal:g} s, wall {p['wall']:.2f} s, CPU {p['cpu']:.2f} s",
            ),
            Figure(
                f"peak RSS, {at}",
                p["peak_rss_mb"],
                "MiB",
                Baseline("bare threads", bare["peak_rss_mb"]),
                target="<= 500",
            ),
        )
    res.add(
        Figure(
            "runs Succeeded (fewest of the sweep)",
            min(p["succeeded"] for p in points),
            "runs",
            Baseline("runs started", runs),
            target=f">= {runs}",
        )
    )
    res.details = {
        "ideal_s": ideal,
        "bare": bare,
        "workers_sweep": [
            {k: p[k] for k in ("workers", "wall", "cpu", "succeeded", "peak_rss_mb")}
            for p in points
        ],
        "method": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
    }
    return res


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", choices=["embedded", "bare"])
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--delay-ms", type=int, default=1000)
    args = parser.parse_args()
    if args.child == "embedded":
        out = child_embedded(args.runs, args.workers, args.delay_ms)
    elif args.child == "bare":
        out = child_bare(args.runs, args.delay_ms)
    else:
        out = run(args.quick, runs=args.runs, delay_ms=args.delay_ms).record()
    print(json.dumps(out))
    sys.stdout.flush()
