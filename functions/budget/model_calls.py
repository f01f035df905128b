"""The budget around one model call: the run's budget, the call's worst case, reserve, settle.

``guard`` runs before the call (nothing to do when neither the run nor its Agent has a
budget, so an unbudgeted run pays nothing), ``account`` after a reply with its actual usage
priced by the Model that answered, ``release`` after a failure (nothing was spent).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from functions.budget.amounts import Amount, Budget, prompt_tokens_bound
from functions.budget.inheritance import root_of
from functions.budget.ledger import BudgetExceeded, Caller
from functions.budget.reservations import Reservation, reserve, settle
from functions.ports import Deps, ModelReply, ModelRequest, Resource
from functions.run.status import parse_time

__all__ = ["account", "guard", "release", "run_budget", "worst_case"]

_HOLD_MARGIN: Final = 60.0  # seconds a reservation outlives the slowest possible call


def run_budget(run: Resource, agent_budget: Mapping[str, Any] | None) -> Budget:
    """The run's budget: the tighter of its own (inherited for a child) and its Agent's."""
    return Budget.of((run.get("spec") or {}).get("budget")).narrowed(Budget.of(agent_budget))


def worst_case(deps: Deps, models: Sequence[Resource], request: ModelRequest) -> Amount:
    """The most this call can spend on any model of its chain: the prompt plus maxTokens."""
    body = json.dumps([request.system, list(request.messages), [t.name for t in request.tools]])
    tool_bytes = sum(
        len(json.dumps(dict(t.input_schema))) + len(t.description) for t in request.tools
    )
    prompt = prompt_tokens_bound(len(body.encode()) + tool_bytes)
    most = Amount()
    for model in models:
        output = int(model["spec"].get("maxTokens") or request.max_tokens)
        # Priced as plain input and as a cache write, whichever costs more.
        cost = max(
            Decimal(deps.models.cost(model, {"input": prompt, "output": output})),
            Decimal(deps.models.cost(model, {"cacheCreation": prompt, "output": output})),
        )
        most = Amount(max(most.tokens, prompt + output), max(most.cost, cost))
    return most


def guard(
    deps: Deps,
    run: Resource,
    budget: Budget,
    models: Sequence[Resource],
    request: ModelRequest,
) -> Reservation | BudgetExceeded | None:
    """Reserve the call's worst case on the tree's ledger; None when the run has no budget."""
    if not budget.limited:
        return None
    meta, spec = run["metadata"], run.get("spec") or {}
    now = deps.clock.now()
    started = parse_time((run.get("status") or {}).get("startedAt")) or now
    parent = str((spec.get("parent") or {}).get("runName") or "")
    caller = Caller(str(meta["name"]), parent, budget, started)
    longest = max(float(m["spec"].get("timeoutSeconds") or 120) for m in models)
    return reserve(
        deps.store,
        str(meta.get("namespace") or "default"),
        root_of(run),
        caller,
        worst_case(deps, models, request),
        now=now,
        hold_seconds=longest * 2 * len(models) + _HOLD_MARGIN,
    )


def account(
    deps: Deps, held: Reservation | None, models: Sequence[Resource], reply: ModelReply
) -> None:
    """Settle the reservation to the reply's usage, priced by the Model that answered."""
    if held is None:
        return
    answered = next((m for m in models if m["metadata"]["name"] == reply.answered_by), models[0])
    u = reply.usage
    usage = {
        "input": u.input,
        "output": u.output,
        "cacheRead": u.cache_read,
        "cacheCreation": u.cache_creation,
    }
    tokens = u.input + u.output + u.cache_read + u.cache_creation
    settle(deps.store, held, Amount(tokens, Decimal(deps.models.cost(answered, usage))))


def release(deps: Deps, held: Reservation | None) -> None:
    """Give the reservation back: the call failed and spent nothing."""
    if held is not None:
        settle(deps.store, held, Amount())
