"""Benchmark: what a tree budget adds to one model call (on vs off), on the SQLite store.

Run: .venv/bin/python -m tests.bench.budget_bench [N]   or ``bench_budget_overhead(n)``.
No assertions. Each sample is one model call as call_llm makes it — ``guard`` (the budget
check), the scripted model's reply, ``account`` (settle) — for a run with a budget (a
reservation and a settlement: two conditional writes on the root run) and for the same run
without one (the baseline: the guard returns at once).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from functions.budget import Budget, account, guard
from functions.models import ModelRegistry
from functions.ports import Deps, ModelRequest
from functions.resources.sqlite import SqliteStore
from functions.runtime.deps import SystemClock
from tests.bench.model_bench import _ms, _time

__all__ = ["bench_budget_overhead", "main"]

MODEL = {
    "apiVersion": "baton.dev/v1alpha1",
    "kind": "Model",
    "metadata": {"name": "scripted", "namespace": "default"},
    "spec": {
        "provider": "scripted",
        "maxTokens": 256,
        "pricing": {"inputPerMTok": 3, "outputPerMTok": 15},
        "script": [{"text": "ok", "usage": {"input": 1, "output": 1}}],
    },
}
REQUEST = ModelRequest(system="s " * 200, messages=[{"role": "user", "content": "t " * 400}])


def bench_budget_overhead(n: int = 500) -> dict[str, Any]:
    """Per-call latency of a model call with the budget checked and settled, and without."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        try:
            run = store.create(
                {
                    "apiVersion": "baton.dev/v1alpha1",
                    "kind": "AgentRun",
                    "metadata": {"name": "root", "namespace": "default"},
                    "spec": {"agentRef": {"name": "a"}, "task": "t"},
                }
            )
            deps = Deps(store, ModelRegistry(), None, SystemClock())  # type: ignore[arg-type]
            model = deps.models.for_resource(MODEL)

            def call(budget: Budget) -> None:
                held = guard(deps, run, budget, [MODEL], REQUEST)
                assert not hasattr(held, "dimension"), held  # never refused here
                account(deps, held, [MODEL], model.complete(REQUEST))  # type: ignore[arg-type]

            off = _time(lambda: call(Budget()), n)
            on = _time(lambda: call(Budget(tokens=10**12)), n)
            tree = store.get("AgentRun", "default", "root")["status"]["treeUsage"]
        finally:
            store.close()
    result = {"n": n, "off": _ms(off), "on": _ms(on), "tree_tokens": tree["tokens"]}
    result["overhead"] = {k: result["on"][k] - result["off"][k] for k in ("p50_ms", "p99_ms")}
    return result


def main() -> None:
    """Print the benchmark as JSON."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    print(json.dumps(bench_budget_overhead(n), indent=2))


if __name__ == "__main__":
    main()
