"""The tree's ledger and the pure decisions on it: reserve before a call, settle after.

The ledger lives in the root run's status (``budgetLedger``), so one conditional write
decides a reservation for the whole tree: ``runs`` holds every run of the tree that has
called a model (its parent, its budget as first registered, what it spent), and
``reservations`` the calls in flight with their worst case. A call may go ahead only if,
for the caller and each ancestor with a budget, what their subtree spent plus what it has
reserved plus this call's worst case stays within that budget, and no deadline has passed.
Reservations carry an expiry, so a caller that died mid-call frees its share.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from functions.budget.amounts import Amount, Budget, format_usd

__all__ = ["BudgetExceeded", "Caller", "Ledger", "decide_reserve", "decide_settle", "remaining"]

Ledger = dict[str, Any]
Dimension = Literal["tokens", "costUSD", "duration"]


@dataclass(frozen=True)
class Caller:
    """The run asking to spend: its name, its parent's (``""`` at the root), its budget."""

    run: str
    parent: str
    budget: Budget
    started: float  # when the run started: its duration budget counts from here


@dataclass(frozen=True)
class BudgetExceeded:
    """Why a call may not go ahead: whose budget, on which dimension, and the numbers."""

    run: str  # the run whose budget would be crossed
    caller: str  # the run that asked
    dimension: Dimension
    limit: str
    used: str
    reserved: str
    needed: str

    @property
    def message(self) -> str:
        """A sentence a person can act on."""
        whose = f"run {self.run}" + (
            "" if self.run == self.caller else f" (asked by {self.caller})"
        )
        if self.dimension == "duration":
            return f"budget exceeded: {whose} is past its duration budget of {self.limit}"
        return (
            f"budget exceeded: {whose} has a {self.dimension} budget of {self.limit}; "
            f"{self.used} used and {self.reserved} reserved by calls in flight, "
            f"and this model call may need {self.needed}"
        )

    def record(self) -> dict[str, str]:
        """As stored on the failed run's status.budgetExceeded."""
        return {
            "run": self.run,
            "caller": self.caller,
            "dimension": self.dimension,
            "limit": self.limit,
            "used": self.used,
            "reserved": self.reserved,
            "needed": self.needed,
        }


def _entry(caller: Caller) -> dict[str, Any]:
    # An ancestor's deadline is not copied: the check walks up to it.
    budget = caller.budget.spec()
    deadline = None if caller.budget.duration is None else caller.started + caller.budget.duration
    if deadline is not None:
        budget["deadline"] = deadline
    entry: dict[str, Any] = {"budget": budget, **Amount().record()}
    if caller.parent:  # no empty strings: an API server may hand them back as null
        entry["parent"] = caller.parent
    return entry


def _chain(runs: Mapping[str, Any], run: str) -> Iterator[str]:
    """``run`` and its ancestors in the ledger, nearest first."""
    seen: set[str] = set()
    while run and run in runs and run not in seen:
        seen.add(run)
        yield run
        run = str(runs[run].get("parent") or "")


def _subtree(runs: Mapping[str, Any], top: str) -> set[str]:
    return {name for name in runs if top in _chain(runs, name)}


def _spent_and_reserved(ledger: Ledger, top: str) -> tuple[Amount, Amount]:
    runs, members = ledger.get("runs") or {}, _subtree(ledger.get("runs") or {}, top)
    spent = sum((Amount.of(runs[m]) for m in members), Amount())
    reservations = (ledger.get("reservations") or {}).values()
    reserved = sum((Amount.of(r) for r in reservations if r.get("run") in members), Amount())
    return spent, reserved


def _check(ledger: Ledger, caller: str, need: Amount, now: float) -> BudgetExceeded | None:
    runs = ledger.get("runs") or {}
    for name in _chain(runs, caller):
        limits = runs[name].get("budget") or {}
        deadline = limits.get("deadline")
        if deadline is not None and now > float(deadline):
            limit = str(limits.get("duration") or "")
            return BudgetExceeded(name, caller, "duration", limit, "", "", "")
        if "tokens" not in limits and "costUSD" not in limits:
            continue
        spent, reserved = _spent_and_reserved(ledger, name)
        if "tokens" in limits and spent.tokens + reserved.tokens + need.tokens > int(
            limits["tokens"]
        ):
            return BudgetExceeded(
                name,
                caller,
                "tokens",
                str(limits["tokens"]),
                str(spent.tokens),
                str(reserved.tokens),
                str(need.tokens),
            )
        cap = Decimal(str(limits.get("costUSD"))) if "costUSD" in limits else None
        if cap is not None and spent.cost + reserved.cost + need.cost > cap:
            return BudgetExceeded(
                name,
                caller,
                "costUSD",
                format_usd(cap),
                format_usd(spent.cost),
                format_usd(reserved.cost),
                format_usd(need.cost),
            )
    return None


def decide_reserve(
    ledger: Ledger | None,
    caller: Caller,
    reservation_id: str,
    worst_case: Amount,
    now: float,
    expires_at: float,
) -> Ledger | BudgetExceeded:
    """The ledger with the reservation added, or why the call may not go ahead."""
    new: Ledger = copy.deepcopy(dict(ledger or {}))
    runs = new.setdefault("runs", {})
    held = new.setdefault("reservations", {})
    for rid in [r for r, v in held.items() if float(v.get("expiresAt", 0)) < now]:
        del held[rid]  # its caller died mid-call: free its share
    if caller.run not in runs:
        runs[caller.run] = _entry(caller)
    refused = _check(new, caller.run, worst_case, now)
    if refused is not None:
        return refused
    held[reservation_id] = {"run": caller.run, **worst_case.record(), "expiresAt": expires_at}
    return new


def decide_settle(ledger: Ledger | None, reservation_id: str, actual: Amount) -> Ledger | None:
    """The ledger with the reservation replaced by the actual spend; None if already settled."""
    held = (ledger or {}).get("reservations") or {}
    if reservation_id not in held:
        return None
    new: Ledger = copy.deepcopy(dict(ledger or {}))
    run = new["reservations"].pop(reservation_id)["run"]
    entry = new["runs"].setdefault(run, {"budget": {}, **Amount().record()})
    entry.update((Amount.of(entry) + actual).record())
    return new


def tree_usage(ledger: Ledger) -> dict[str, Any]:
    """The tree's totals for status.treeUsage: settled spend, what is reserved, how many runs."""
    runs = ledger.get("runs") or {}
    spent = sum((Amount.of(r) for r in runs.values()), Amount())
    reserved = sum((Amount.of(r) for r in (ledger.get("reservations") or {}).values()), Amount())
    return {
        **spent.record(),
        "reservedTokens": reserved.tokens,
        "reservedCostUSD": format_usd(reserved.cost),
        "runs": len(runs),
    }


def remaining(ledger: Ledger | None, run: str, now: float) -> Budget:
    """What the run's budget and its ancestors' leave for a child of ``run`` (tightest wins)."""
    runs = (ledger or {}).get("runs") or {}
    left = Budget()
    for name in _chain(runs, run):
        limits = runs[name].get("budget") or {}
        spent, reserved = _spent_and_reserved(ledger or {}, name)
        used = spent + reserved
        left = left.narrowed(
            Budget(
                None if "tokens" not in limits else max(int(limits["tokens"]) - used.tokens, 0),
                None
                if "costUSD" not in limits
                else max(Decimal(str(limits["costUSD"])) - used.cost, Decimal(0)),
                None if "deadline" not in limits else max(float(limits["deadline"]) - now, 0.0),
            )
        )
    return left
