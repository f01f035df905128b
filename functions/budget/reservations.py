"""Reserve and settle against the tree's ledger: conditional writes on the root run's status.

Every shape runs the same code: read the root AgentRun, decide on its ``budgetLedger``
(``functions.budget.ledger``), write status with the resourceVersion read; a conflict means
another call of the tree got there first, so read again and decide again. Two parallel
children therefore cannot both take the last of the budget.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from events.errors import TransientError
from functions.budget.amounts import Amount
from functions.budget.ledger import (
    BudgetExceeded,
    Caller,
    decide_reserve,
    decide_settle,
    tree_usage,
)
from functions.ports import Conflict, NotFound, Store

__all__ = ["Reservation", "reserve", "settle"]

_MAX_CONFLICTS: Final = 50  # every model call of the tree writes here; a busy tree retries


@dataclass(frozen=True)
class Reservation:
    """A worst case held on the root run's ledger until ``settle`` replaces it by the spend."""

    namespace: str
    root: str
    id: str
    run: str
    worst_case: Amount


def reserve(
    store: Store,
    namespace: str,
    root: str,
    caller: Caller,
    worst_case: Amount,
    *,
    now: float,
    hold_seconds: float,
) -> Reservation | BudgetExceeded:
    """Hold ``worst_case`` for ``caller`` on the tree rooted at ``root``, or say why not."""
    reservation_id = f"{caller.run}/{uuid.uuid4().hex[:12]}"
    for _ in range(_MAX_CONFLICTS):
        run = _root(store, namespace, root)
        status = dict(run.get("status") or {})
        decided = decide_reserve(
            status.get("budgetLedger"), caller, reservation_id, worst_case, now, now + hold_seconds
        )
        if isinstance(decided, BudgetExceeded):
            return decided
        if _write(store, run, status, decided):
            return Reservation(namespace, root, reservation_id, caller.run, worst_case)
    raise TransientError(
        f"budget of run {root}: too many concurrent writes", reason="WriteConflict"
    )


def settle(store: Store, reservation: Reservation, actual: Amount) -> None:
    """Replace the reservation by what the call spent (nothing, when it failed); idempotent."""
    for _ in range(_MAX_CONFLICTS):
        try:
            run = _root(store, reservation.namespace, reservation.root)
        except TransientError:
            return  # the tree's root is gone: nothing left to account to
        status = dict(run.get("status") or {})
        decided = decide_settle(status.get("budgetLedger"), reservation.id, actual)
        if decided is None or _write(store, run, status, decided):
            return
    raise TransientError(
        f"budget of run {reservation.root}: too many concurrent writes", reason="WriteConflict"
    )


def _root(store: Store, namespace: str, name: str) -> dict[str, Any]:
    try:
        return store.get("AgentRun", namespace, name)
    except NotFound:
        raise TransientError(
            f"the budget's root run {namespace}/{name} is gone", reason="BudgetRootMissing"
        ) from None


def _write(store: Store, run: dict[str, Any], status: dict[str, Any], ledger: Any) -> bool:
    status["budgetLedger"] = ledger
    status["treeUsage"] = tree_usage(ledger)
    try:
        store.update_status({**run, "status": status})
    except Conflict:
        return False
    return True
