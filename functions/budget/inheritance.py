"""Which tree a run belongs to, and what budget a child starts with."""

from __future__ import annotations

from typing import Any

from functions.budget.amounts import Budget
from functions.budget.ledger import remaining
from functions.ports import NotFound, Resource, Store

__all__ = ["budget_for_child", "root_of"]


def root_of(run: Resource) -> str:
    """The name of the tree's root run (the run itself at the root)."""
    parent = (run.get("spec") or {}).get("parent") or {}
    return str(parent.get("rootRunName") or parent.get("runName") or run["metadata"]["name"])


def budget_for_child(store: Store, parent: Resource, now: float) -> Budget:
    """At most what the parent's budget (and every ancestor's) leaves, as of ``now``.

    Read from the root's ledger, reservations in flight counted as spent; a parent that has
    not called a model yet leaves its whole own budget.
    """
    meta = parent["metadata"]
    namespace = meta.get("namespace", "default")
    own = Budget.of((parent.get("spec") or {}).get("budget"))
    try:
        root = store.get("AgentRun", namespace, root_of(parent))
    except NotFound:
        return own
    ledger: Any = (root.get("status") or {}).get("budgetLedger")
    return own.narrowed(remaining(ledger, meta["name"], now))
