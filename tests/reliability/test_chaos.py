"""Chaos: 200 runs per shape while processes are SIGKILLed at random moments.

Each run makes two model calls (the real anthropic client against the fake Messages API)
around one call of a real MCP stdio tool that logs every execution with its idempotency
key. A seeded killer SIGKILLs workers and the source (NATS), function servers and the
source (HTTP), or the whole ``baton serve`` (embedded), and restarts them. Every accepted
request must end Succeeded within a few seconds of its own work, with each tool effect
and model call made once (a call re-run because its caller died carries the same key) and
tokens counted once. At most 16 runs are in flight at a time (see chaos.py), so a shape
whose runs stall stops taking new ones and fails with fewer runs submitted. Set
BATON_CHAOS_SEED to replay a seed (default 20261203), or to random for a new one.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.fixtures.nats import nats_server, nats_url
from tests.reliability.chaos import run_chaos
from tests.reliability.fleets import EmbeddedFleet, Fleet, HttpFleet, NatsFleet

__all__ = ["nats_server", "nats_url"]  # fixtures

RUNS = int(os.environ.get("BATON_CHAOS_RUNS") or 200)
pytestmark = pytest.mark.slow


# CI replays one seed, so a red run is a change's doing, not the dice's; BATON_CHAOS_SEED=random
# explores new ones. Seed 3495663617 once left NATS runs ~30 s late: kill bursts on the
# call_llm worker stranded claims for a 6 s lease each, while restarted workers held fresh
# claims through a cold SDK import (now: functions/run/owners.py, functions/runtime/warmup.py).
DEFAULT_SEED = 20261203


def _seed() -> int:
    chosen = os.environ.get("BATON_CHAOS_SEED") or str(DEFAULT_SEED)
    if chosen == "random":
        return random.SystemRandom().randrange(1 << 32)
    return int(chosen)


def _survives(fleet: Fleet) -> None:
    seed = _seed()
    verdict = run_chaos(fleet, runs=RUNS, seed=seed)
    summary = (
        f"seed {seed}: {verdict.runs} of {RUNS} runs submitted, {verdict.kills} kills, "
        f"{verdict.terminal_pct:.1f}% terminal, max lateness {verdict.max_lateness:.1f} s: "
        f"{verdict.broken()}"
    )
    print(summary)  # the seed and the worst lateness, kept or broken (shown with -s)
    for story in verdict.stories.values():
        print(story)  # shown with the failure: what each late run waited on
    assert verdict.runs == RUNS, f"runs stalled, the rest could not be submitted; {summary}"
    assert verdict.kills > 0, summary
    assert not verdict.broken(), summary


def test_nats_shape_keeps_its_promises_under_kills(nats_url: str, tmp_path: Path) -> None:
    """NATS: workers and the source SIGKILLed at random; every run ends once, on time."""
    _survives(NatsFleet(tmp_path, nats_url))


def test_http_shape_keeps_its_promises_under_kills(tmp_path: Path) -> None:
    """HTTP: gunicorn functions and the source SIGKILLed at random; every run ends once, on time."""
    _survives(HttpFleet(tmp_path))


def test_embedded_shape_keeps_its_promises_under_kills(tmp_path: Path) -> None:
    """Embedded: the whole baton serve SIGKILLed and restarted; every accepted request completes."""
    _survives(EmbeddedFleet(tmp_path))
