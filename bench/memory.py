"""Memory: RSS of an embedded baton process idle and after 1,000 runs, beside a bare loop.

Each side runs in a fresh process. "Idle" is after start-up (runtime started,
Model and Agent applied, nothing run); "after" is once ``runs`` runs finished
and a ``gc.collect()`` ran, so it shows what the process keeps. The bare side
imports only the scripted model and the built-in tools and runs the same
calls in a plain loop.
"""

from __future__ import annotations

import argparse
import gc
import json
from typing import Any

from bench.harness import Baseline, Figure, Result, run_child
from bench.machine import peak_rss_mb, rss_mb

__all__ = ["run"]

CHUNK = 250


def child_embedded(runs: int) -> dict[str, Any]:
    """(In the child) RSS of the embedded runtime idle and after ``runs`` runs."""
    from bench.scenario import scenario
    from bench.workload import complete, embedded, succeeded

    sc = scenario()
    with embedded(sc, keep_timeline=False) as (runtime, timeline, _):
        gc.collect()
        idle = rss_mb()
        names = [f"m-{i}" for i in range(runs)]
        for start in range(0, runs, CHUNK):
            complete(runtime, timeline, sc, names[start : start + CHUNK])
        ok = succeeded(runtime, names)
        runtime.bus.wait_idle(60)
        gc.collect()
        after = rss_mb()
    return {"idle_mb": idle, "after_mb": after, "peak_mb": peak_rss_mb(), "succeeded": ok}


def child_bare(runs: int) -> dict[str, Any]:
    """(In the child) RSS of a bare agent loop idle and after ``runs`` runs."""
    from bench.scenario import bare_runs, scenario

    sc = scenario()
    bare_runs(sc, 1)
    gc.collect()
    idle = rss_mb()
    bare_runs(sc, runs)
    gc.collect()
    return {"idle_mb": idle, "after_mb": rss_mb(), "peak_mb": peak_rss_mb(), "succeeded": runs}


def run(quick: bool = False, *, runs: int = 0) -> Result:
    """Idle and after-runs RSS of the embedded process vs the bare loop's process."""
    runs = runs or (200 if quick else 1000)
    res = Result("memory", params={"runs": runs})
    emb = run_child("bench.memory", "--child", "embedded", "--runs", str(runs))
    bare = run_child("bench.memory", "--child", "bare", "--runs", str(runs))
    res.add(
        Figure(
            "RSS idle (embedded)", emb["idle_mb"], "MiB", Baseline("bare loop", bare["idle_mb"])
        ),
        Figure(
            f"RSS after {runs} runs (embedded)",
            emb["after_mb"],
            "MiB",
            Baseline("bare loop", bare["after_mb"]),
        ),
        Figure(
            f"RSS growth over {runs} runs",
            emb["after_mb"] - emb["idle_mb"],
            "MiB",
            Baseline("bare loop", bare["after_mb"] - bare["idle_mb"]),
        ),
    )
    res.details = {
        "embedded": emb,
        "bare": bare,
        "method": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
    }
    return res


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", choices=["embedded", "bare"])
    parser.add_argument("--runs", type=int, default=0)
    args = parser.parse_args()
    if args.child == "embedded":
        out = child_embedded(args.runs)
    elif args.child == "bare":
        out = child_bare(args.runs)
    else:
        out = run(args.quick, runs=args.runs).record()
    print(json.dumps(out), flush=True)
