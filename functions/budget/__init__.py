"""Budgets across a tree of runs: tokens, USD and time, enforced before every model call.

An Agent or AgentRun sets ``budget {tokens, costUSD, duration}``; a child run gets at most
what its parent's leaves (``budget_for_child``). Before each model call the caller reserves
the call's worst case on the root run's ledger (one conditional write), and settles it to
the actual usage after; a refusal is a ``BudgetExceeded`` with the numbers and whose budget.
"""

from __future__ import annotations

from functions.budget.amounts import Amount, Budget, format_usd, prompt_tokens_bound
from functions.budget.inheritance import budget_for_child, root_of
from functions.budget.ledger import BudgetExceeded, Caller, remaining, tree_usage
from functions.budget.model_calls import account, guard, release, run_budget, worst_case
from functions.budget.reservations import Reservation, reserve, settle

__all__ = [
    "Amount",
    "Budget",
    "BudgetExceeded",
    "Caller",
    "Reservation",
    "account",
    "budget_for_child",
    "format_usd",
    "guard",
    "prompt_tokens_bound",
    "release",
    "remaining",
    "reserve",
    "root_of",
    "run_budget",
    "settle",
    "tree_usage",
    "worst_case",
]
