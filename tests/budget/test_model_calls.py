"""The budget around one model call: whose budget, and what the worst case of a call is."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from functions.budget import Amount, Budget, guard, run_budget, worst_case
from functions.models import ModelRegistry
from functions.ports import ModelRequest, ToolSpec

TOOL = ToolSpec("calc", "Evaluate", {"type": "object"})
REQUEST = ModelRequest(
    system="sys", messages=[{"role": "user", "content": "x" * 300}], tools=[TOOL]
)


def model(name: str, max_tokens: int, **pricing: Any) -> dict[str, Any]:
    """A Model resource with ``pricing``."""
    spec = {"provider": "scripted", "maxTokens": max_tokens, "pricing": pricing}
    return {"metadata": {"name": name}, "spec": spec}


def test_run_budget_is_the_tighter_of_run_and_agent() -> None:
    """Each dimension takes the smaller of the run's and the Agent's; unset is no limit."""
    run = {"spec": {"budget": {"tokens": 5000, "duration": "10m"}}}
    assert run_budget(run, {"tokens": 8000, "costUSD": 0.5}) == Budget(5000, Decimal("0.5"), 600.0)
    assert not run_budget({"spec": {}}, None).limited


def test_worst_case_is_prompt_bound_plus_max_tokens_at_the_dearest_model() -> None:
    """Tokens: prompt bytes / 3 rounded up + the largest maxTokens; USD: the dearest pricing."""
    deps = SimpleNamespace(models=ModelRegistry())
    cheap = model("cheap", 1000, inputPerMTok=1, outputPerMTok=2)
    dear = model("dear", 200, inputPerMTok=3, outputPerMTok=15, cacheWritePerMTok=3.75)
    body = json.dumps([REQUEST.system, list(REQUEST.messages), ["calc"]])
    prompt = math.ceil((len(body) + len(json.dumps({"type": "object"})) + len("Evaluate")) / 3)
    amount = worst_case(deps, [cheap, dear], REQUEST)  # type: ignore[arg-type]
    assert amount.tokens == prompt + 1000
    dear_cost = (Decimal(prompt) * Decimal("3.75") + 200 * 15) / 1_000_000  # as a cache write
    cheap_cost = (Decimal(prompt) * Decimal("1.25") + 1000 * 2) / 1_000_000  # default 1.25x
    assert amount.cost == max(dear_cost, cheap_cost)


def test_no_budget_no_reservation() -> None:
    """A run without a budget never touches the store (the guard answers None)."""
    deps = SimpleNamespace(models=ModelRegistry(), store=None, clock=None)
    run = {"metadata": {"name": "r"}, "spec": {}}
    assert guard(deps, run, Budget(), [model("m", 10)], REQUEST) is None  # type: ignore[arg-type]
    assert Amount(1, Decimal("0.1")) + Amount(2, Decimal("0.2")) == Amount(3, Decimal("0.3"))
