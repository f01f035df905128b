"""Duplicated, reordered delivery: every event of 50 runs three times, shuffled, changes nothing.

The final state of each run (its status without timestamps, and its journal) hashes the
same as the same run driven cleanly, one delivery per event in order (DESIGN.md, "Chaos").
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from typing import Any

from tests.reliability.world import CALL_ID, World, expected_answer

RUNS = 50
COPIES = 3
TIMESTAMPS = frozenset({"startedAt", "completedAt", "lastEventTime", "lastTransitionTime"})


def _seed() -> int:
    return int(os.environ.get("BATON_CHAOS_SEED") or random.SystemRandom().randrange(1 << 32))


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in TIMESTAMPS}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def final_state(world: World, name: str) -> dict[str, Any]:
    """The run's status minus timestamps and its journal, its uid (and trace id) as <uid>."""
    run = world.get(name)
    state = {
        "status": _without_times(run.get("status") or {}),
        "journal": world.store.read_journal(run),
    }
    uid = run["metadata"]["uid"]
    text = json.dumps(state, sort_keys=True)
    for form in (uid, uid.replace("-", "")):  # the trace id is the uid without dashes
        text = text.replace(form, "<uid>")
    return json.loads(text)


def digest(state: dict[str, Any]) -> str:
    """A stable hash of a final state."""
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def _clean() -> tuple[World, list[str]]:
    world = World()
    names = world.runs(RUNS)
    world.drive()
    return world, names


def _tripled(seed: int) -> tuple[World, list[str]]:
    world = World()
    names = world.runs(RUNS)
    world.drive(rng=random.Random(seed), copies=COPIES)
    return world, names


def test_clean_runs_answer_from_their_tool_result() -> None:
    """The reference itself is right: every clean run Succeeded with its own answer."""
    world, names = _clean()
    for number, name in enumerate(names):
        status = world.status(name)
        assert (status["phase"], status["result"]) == ("Succeeded", expected_answer(number))
        assert status["tokenUsage"]["total"] == 282, name


def test_every_event_three_times_shuffled_gives_the_clean_final_state() -> None:
    """Each of 50 runs ends in the same status and journal as when driven cleanly."""
    seed = _seed()
    clean, names = _clean()
    tripled, _ = _tripled(seed)
    differ = [
        name
        for name in names
        if digest(final_state(clean, name)) != digest(final_state(tripled, name))
    ]
    first = differ[0] if differ else None
    assert not differ, (
        f"seed {seed}: {len(differ)} runs differ, e.g. {first}: "
        f"{final_state(clean, first)} != {final_state(tripled, first)}"
    )


def test_every_event_three_times_calls_model_and_tool_once() -> None:
    """Tripled delivery makes one model call per step and one tool execution per call."""
    seed = _seed()
    world, names = _tripled(seed)
    uids = {world.get(name)["metadata"]["uid"]: name for name in names}
    model_keys = {f"{uid}/{step}/call_llm" for uid in uids for step in (1, 2)}
    assert set(world.model_calls) == model_keys, f"seed {seed}"
    twice = {k: n for k, n in world.model_calls.items() if n != 1}
    assert not twice, f"seed {seed}: model calls made more than once: {twice}"
    executions = world.toolbox.executions()
    assert len(executions) == RUNS, f"seed {seed}"
    assert all(key.endswith(f"/{CALL_ID}") for key in executions)
    twice = {k: n for k, n in executions.items() if n != 1}
    assert not twice, f"seed {seed}: tool calls executed more than once: {twice}"
