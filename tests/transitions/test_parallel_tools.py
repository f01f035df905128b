"""Parallel tool calls closing at once on a real store: exactly one asks for the next turn."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from events import types
from functions import call_llm, call_tool
from functions.resources.sqlite import SqliteStore
from functions.run.status import Stage
from tests.fakes.model import tool_use
from tests.transitions.harness import Harness

CALLS = 8


def test_concurrent_closes_emit_one_next_turn(tmp_path):
    """Eight calls of one step finish on eight threads: one llm.requested, no call lost."""
    store = SqliteStore(tmp_path / "baton.db")
    try:
        h = Harness(store)
        h.world()
        calls = [(f"t{i}", "calculate", {"expression": f"{i}*{i}"}) for i in range(CALLS)]
        h.models.script("m1", tool_use(*calls))
        requests = call_llm.handle(h.prepared()[0], h.deps)
        with ThreadPoolExecutor(CALLS) as pool:
            results = list(pool.map(lambda e: call_tool.handle(e, h.deps), requests))
        emitted = [e.get_type() for out in results for e in out]
        assert emitted.count(types.TOOL_COMPLETED) == CALLS
        assert emitted.count(types.LLM_REQUESTED) == 1
        st = h.status()
        assert (st["stage"], st["step"], st["pendingToolCalls"], st["toolCalls"]) == (
            Stage.MODEL,
            2,
            [],
            CALLS,
        )
        assert sorted(k for k in h.journal() if k.startswith("tool/")) == sorted(
            f"tool/1/t{i}" for i in range(CALLS)
        )
    finally:
        store.close()
