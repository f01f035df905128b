"""Every benchmark by name, in the order ``make bench`` runs them.

Each entry is ``run(quick) -> Result``, imported on use. The other shapes'
benchmarks go through bench.external, which reports a missing one as
"not available" with the reason instead of a number.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable
from typing import Final

from bench.harness import Result

__all__ = ["BENCHMARKS", "QUICK_SKIP", "run_benchmark"]

# name -> "module" (its run(quick)) or "external:<name>"
BENCHMARKS: Final[dict[str, str]] = {
    "embedded": "bench.embedded",
    "observe": "bench.observe",
    "growth": "bench.growth",
    "concurrency": "bench.concurrency",
    "coldstart": "bench.coldstart",
    "memory": "bench.memory",
    "process-memory": "bench.process_memory",
    "nats": "external:nats",
    "nats-runs": "bench.nats_runs",
    "http": "external:http",
    "anthropic-adapter": "external:anthropic-adapter",
    "openai-adapter": "external:openai-adapter",
    "budget": "external:budget",
    "webhook": "external:webhook",
    "triggers": "external:triggers",
    "chaos": "bench.chaos",
    "console": "bench.console",
}
QUICK_SKIP: Final[frozenset[str]] = frozenset()


def _runner(name: str) -> Callable[[bool], Result]:
    target = BENCHMARKS[name]
    if target.startswith("external:"):
        from bench.external import run_external

        return lambda quick: run_external(target.split(":", 1)[1], quick)
    run: Callable[[bool], Result] = importlib.import_module(target).run
    return run


def run_benchmark(name: str, quick: bool, runner: Callable[[bool], Result] | None = None) -> Result:
    """Run one benchmark (``runner`` or the registered one); a crash becomes a failed result."""
    started = time.perf_counter()
    try:
        result = (runner or _runner(name))(quick)
    except Exception as exc:  # a benchmark's bug must not hide every other figure
        result = Result(name, reason=f"failed: {type(exc).__name__}: {exc}")
        result.details = {"traceback": traceback.format_exc()}
    result.seconds = time.perf_counter() - started
    return result
