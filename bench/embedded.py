"""Embedded shape: per-transition overhead and complete runs/s beside a bare agent loop.

Method (per-transition overhead): runs go one at a time through the embedded
runtime, so nothing queues. A bus tap timestamps every event as it is
published. For each event a transition consumes, "event in" is its publish
and "next event out" is the publish of the first event the transition emits
(the next ``dev.baton.*`` event of that run). From that interval the time
spent inside model and tool calls, measured by wrapping the Model and Toolbox
seams, is subtracted; nothing else is. What remains is baton's cost: the bus
hop, store reads and writes, the journal, the event log and building events.

Method (runs/s): ``runs`` AgentRuns are created at once and the clock stops
when the last one's ``run.finished`` is published; the bare loop makes the same
scripted model and tool calls in a plain loop.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from typing import Any

from bench.harness import Baseline, Figure, Result, Timer, percentile, summary
from bench.scenario import Scenario, bare_runs, scenario
from bench.workload import Timeline, complete, embedded, succeeded
from events import types
from functions.chain import ROUTES

__all__ = ["batch", "measure", "overheads", "per_function_ms", "run", "sequential"]

_CONSUMED = frozenset(r.filter["type"] for r in ROUTES) - {types.TICK}
# Transitions of a run that emit nothing, so have no overhead interval: finalize's
# run.finished is taken by deliver (one), and the last transition has no successor.
_UNTIMED_PER_RUN = 1
# The function that takes each type (an event's source is its run, not its emitter).
_TAKEN_BY = {
    r.filter["type"]: r.function for r in ROUTES if r.filter.get("kind", "AgentRun") == "AgentRun"
}
_EMITTED_PREFIX = "dev.baton."


def overheads(timeline: Timeline, clock: Any, runs: list[str]) -> dict[str, list[float]]:
    """Per-transition overhead in seconds, keyed by the transition that handled the event."""
    out: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        events = sorted(timeline.events.get(run, []))
        for i, (t_in, type_in, _) in enumerate(events):
            if type_in not in _CONSUMED:
                continue
            nxt = next((e for e in events[i + 1 :] if e[1].startswith(_EMITTED_PREFIX)), None)
            if nxt is None:
                continue
            t_out = nxt[0]
            function = _TAKEN_BY[type_in]
            out[function].append((t_out - t_in) - clock.inside(t_in, t_out))
    return out


def per_function_ms(per_fn: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """p50/p99/mean in ms and count of each transition's overheads."""
    return {
        fn: {k: round(v * 1000, 4) if k != "n" else v for k, v in summary(vals).items()}
        for fn, vals in sorted(per_fn.items())
    }


def sequential(
    runtime: Any, timeline: Timeline, clock: Any, sc: Scenario, names: list[str]
) -> dict[str, list[float]]:
    """Complete the runs one at a time; per-transition overheads (s) by transition."""
    for name in names:
        complete(runtime, timeline, sc, [name], timeout=60)
    return overheads(timeline, clock, [f"default/{n}" for n in names])


def batch(runtime: Any, timeline: Timeline, sc: Scenario, names: list[str]) -> Timer:
    """Wall and CPU seconds from creating all the runs at once to the last one finished."""
    with Timer() as t:
        complete(runtime, timeline, sc, names)
    return t


def measure(
    sc: Scenario, *, sequential_runs: int, batch_runs: int, workers: int = 32
) -> dict[str, Any]:
    """Raw numbers for one scenario: overheads (s), batch seconds, bare step times."""
    with embedded(sc, workers=workers) as (runtime, timeline, clock):
        complete(runtime, timeline, sc, [f"warm-{i}" for i in range(3)])
        seq_names = [f"seq-{i}" for i in range(sequential_runs)]
        writes_before = runtime.store.total()
        per_fn = sequential(runtime, timeline, clock, sc, seq_names)
        runtime.bus.wait_idle(30)
        # The runs' own creation is the user's apply, not a transition's commit.
        writes = runtime.store.total() - writes_before - sequential_runs
        transitions = sum(len(v) for v in per_fn.values()) + _UNTIMED_PER_RUN * sequential_runs
        batch_names = [f"batch-{i}" for i in range(batch_runs)]
        batch_s = batch(runtime, timeline, sc, batch_names)
        ok = succeeded(runtime, seq_names + batch_names)
    bare_runs(sc, 20)  # warm the imports and caches the embedded side warmed too
    with Timer() as t:
        steps = bare_runs(sc, batch_runs)
    return {
        "commits_per_run": writes / max(sequential_runs, 1),
        "transitions_per_run": transitions / max(sequential_runs, 1),
        "per_function": per_fn,
        "all": [v for vs in per_fn.values() for v in vs],
        "batch_seconds": batch_s.elapsed,
        "batch_cpu": batch_s.cpu,
        "succeeded": ok,
        "runs": sequential_runs + batch_runs,
        "bare_seconds": t.elapsed,
        "bare_cpu": t.cpu,
        "bare_steps": steps,
    }


def run(quick: bool = False, *, seq_runs: int = 0, batch_runs: int = 0) -> Result:
    """The embedded figures: runs/s and transition overhead p50/p99 vs the bare loop."""
    seq_runs = seq_runs or (30 if quick else 200)
    batch_runs = batch_runs or (200 if quick else 1000)
    res = Result(
        "embedded",
        params={
            "sequential_runs": seq_runs,
            "batch_runs": batch_runs,
            "workers": 32,
            "turns": 2,
            "tool_calls": 1,
        },
    )
    raw = measure(scenario(), sequential_runs=seq_runs, batch_runs=batch_runs)
    batch = batch_runs
    ms = [v * 1000 for v in raw["all"]]
    bare_ms = [v * 1000 for v in raw["bare_steps"]]
    res.add(
        Figure(
            "complete runs/s",
            batch / raw["batch_seconds"],
            "runs/s",
            Baseline("bare loop runs/s", batch / raw["bare_seconds"]),
            target=">= 500",
        ),
        Figure(
            "CPU per run (all threads)",
            raw["batch_cpu"] / batch * 1000,
            "ms",
            Baseline("bare loop CPU per run", raw["bare_cpu"] / batch * 1000),
            note="one process, one GIL: runs/s cannot pass 1000 / this",
        ),
        Figure(
            "store commits per transition",
            raw["commits_per_run"] / raw["transitions_per_run"],
            "commits",
            Baseline("transitions per run", raw["transitions_per_run"]),
            target="<= 1.5",
            note=f"{raw['commits_per_run']:.1f} commits per run: one per transition, "
            "two for a model or tool call (its claim, then its result)",
        ),
        Figure(
            "transition overhead p50",
            percentile(ms, 50),
            "ms",
            Baseline("bare step p50", percentile(bare_ms, 50)),
            target="<= 0.5",
        ),
        Figure(
            "transition overhead p99",
            percentile(ms, 99),
            "ms",
            Baseline("bare step p99", percentile(bare_ms, 99)),
        ),
    )
    res.details = {
        "succeeded": f"{raw['succeeded']}/{raw['runs']}",
        "per_transition_ms": per_function_ms(raw["per_function"]),
        "method": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
    }
    return res


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    json.dump(run(args.quick).record(), sys.stdout, indent=2)
