"""Budgets across a tree, enforced by reservations on the root run: real stores, real threads."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from functions.budget import (
    Amount,
    Budget,
    BudgetExceeded,
    Caller,
    Reservation,
    budget_for_child,
    reserve,
    settle,
)
from functions.ports import Store

NOW = 1_800_000_000.0
HOLD = 300.0


def create_run(store: Store, namespace: str, name: str, parent: str = "", **spec: Any) -> None:
    """An AgentRun (a child when ``parent`` is given)."""
    body: dict[str, Any] = {"agentRef": {"name": "helper"}, "task": "t", **spec}
    if parent:
        body["parent"] = {"runName": parent, "uid": f"uid-{parent}", "spawnDepth": 1}
    store.create(
        {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "AgentRun",
            "metadata": {"name": name, "namespace": namespace},
            "spec": body,
        }
    )


@dataclass(frozen=True)
class Tree:
    """A root run and two children, named uniquely per test (the API server is shared)."""

    store: Store
    ns: str
    root: str
    a: str
    b: str


def caller(name: str, parent: str = "", **budget: Any) -> Caller:
    """A run asking to spend, with ``budget`` in spec form."""
    return Caller(name, parent, Budget.of(budget), started=NOW - 1)


def ask(
    tree: Tree, who: Caller, tokens: int, cost: str = "0", now: float = NOW
) -> Reservation | BudgetExceeded:
    """Reserve on the tree's root."""
    return reserve(
        tree.store,
        tree.ns,
        tree.root,
        who,
        Amount(tokens, Decimal(cost)),
        now=now,
        hold_seconds=HOLD,
    )


def root_status(tree: Tree) -> dict[str, Any]:
    """The root run's status as stored."""
    status: dict[str, Any] = tree.store.get("AgentRun", tree.ns, tree.root)["status"]
    return status


@pytest.fixture
def tree(store_ns: tuple[Store, str]) -> Tree:
    """A root run with a 1,000-token budget and two children."""
    store, ns = store_ns
    root = f"root-{uuid.uuid4().hex[:6]}"
    created = Tree(store, ns, root, f"{root}-a", f"{root}-b")
    create_run(store, ns, root, budget={"tokens": 1000})
    create_run(store, ns, created.a, parent=root)
    create_run(store, ns, created.b, parent=root)
    return created


def test_sequential_spend_stops_at_the_exact_call_that_would_cross(
    tree: Tree,
) -> None:
    """Calls of worst case 300 spending 250 each: the 4th (750 + 300 > 1,000) is refused."""
    root = caller(tree.root, tokens=1000)
    for _ in range(3):
        held = ask(tree, root, 300)
        assert isinstance(held, Reservation)
        settle(tree.store, held, Amount(250, Decimal("0.01")))
    refused = ask(tree, root, 300)
    assert isinstance(refused, BudgetExceeded)
    assert refused.record() == {
        "run": tree.root,
        "caller": tree.root,
        "dimension": "tokens",
        "limit": "1000",
        "used": "750",
        "reserved": "0",
        "needed": "300",
    }
    assert "tokens budget of 1000; 750 used" in refused.message
    usage = root_status(tree)["treeUsage"]
    assert usage == {
        "tokens": 750,
        "costUSD": "0.03",
        "reservedTokens": 0,
        "reservedCostUSD": "0",
        "runs": 1,
    }


def test_parallel_children_cannot_overshoot_together(tree: Tree) -> None:
    """Eight racing calls of 300 under 1,000 tokens: exactly three hold, five are refused."""
    ask(tree, caller(tree.root, tokens=1000), 0)  # the root registered, as after its first call
    start = threading.Barrier(8)
    results: list[Reservation | BudgetExceeded] = []
    lock = threading.Lock()

    def child(i: int) -> None:
        who = caller(tree.a if i % 2 else tree.b, parent=tree.root)
        start.wait()
        outcome = ask(tree, who, 300)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=child, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    held = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert (len(held), len(refused)) == (3, 5)
    assert all(r.run == tree.root and r.caller in (tree.a, tree.b) for r in refused)
    status = root_status(tree)
    assert status["treeUsage"]["reservedTokens"] == 900
    for r in held:
        settle(tree.store, r, Amount(100))
    assert root_status(tree)["treeUsage"]["tokens"] == 300


def test_parallel_children_overshoot_case(tree: Tree) -> None:
    """Two children that would each fit (600 < 1,000) but not together: the second is stopped."""
    ask(tree, caller(tree.root, tokens=1000), 0)
    first = ask(tree, caller(tree.a, parent=tree.root), 600)
    second = ask(tree, caller(tree.b, parent=tree.root), 600)
    assert isinstance(first, Reservation)
    assert isinstance(second, BudgetExceeded)
    assert (second.run, second.caller, second.reserved) == (tree.root, tree.b, "600")


def test_settle_releases_to_actual_and_is_idempotent(tree: Tree) -> None:
    """A settled reservation counts its actual spend once, however often settle runs."""
    held = ask(tree, caller(tree.root, tokens=1000), 900)
    assert isinstance(held, Reservation)
    settle(tree.store, held, Amount(120))
    settle(tree.store, held, Amount(120))
    assert root_status(tree)["treeUsage"]["tokens"] == 120
    assert isinstance(ask(tree, caller(tree.root, tokens=1000), 880), Reservation)


def test_expired_reservation_of_a_dead_caller_is_freed(tree: Tree) -> None:
    """A reservation whose caller never settled stops counting once it expires."""
    assert isinstance(ask(tree, caller(tree.root, tokens=1000), 900), Reservation)
    assert isinstance(ask(tree, caller(tree.root, tokens=1000), 900), BudgetExceeded)
    later = NOW + HOLD + 1
    assert isinstance(ask(tree, caller(tree.root, tokens=1000), 900, now=later), Reservation)


def test_cost_budget_in_exact_decimals(tree: Tree) -> None:
    """costUSD is checked in decimals: 0.3 + 0.3 + 0.3 fits 0.9 exactly, a 4th cent does not."""
    root = caller(tree.root, costUSD=0.9)
    for _ in range(3):
        held = ask(tree, root, 10, "0.3")
        assert isinstance(held, Reservation)
        settle(tree.store, held, Amount(10, Decimal("0.3")))
    refused = ask(tree, root, 1, "0.01")
    assert isinstance(refused, BudgetExceeded)
    assert (refused.dimension, refused.limit, refused.used) == ("costUSD", "0.9", "0.9")


def test_duration_budget_ends_with_the_deadline(tree: Tree) -> None:
    """Past the run's duration budget no call is allowed; its children share the deadline."""
    assert isinstance(ask(tree, caller(tree.root, duration="1m"), 1), Reservation)
    refused = ask(tree, caller(tree.a, parent=tree.root), 1, now=NOW + 61)
    assert isinstance(refused, BudgetExceeded)
    assert (refused.run, refused.dimension, refused.limit) == (tree.root, "duration", "60s")
    assert refused.message == (
        f"budget exceeded: run {tree.root} (asked by {tree.a}) is past its duration budget of 60s"
    )


def test_child_inherits_what_remains_and_its_own_budget_holds(tree: Tree) -> None:
    """A child gets at most the parent's remainder; a tighter own budget stops it first."""
    held = ask(tree, caller(tree.root, tokens=1000, costUSD=1), 400, "0.2")
    assert isinstance(held, Reservation)
    settle(tree.store, held, Amount(300, Decimal("0.25")))
    parent = tree.store.get("AgentRun", tree.ns, tree.root)
    assert budget_for_child(tree.store, parent, NOW) == Budget(700, Decimal("0.75"), None)
    small = ask(tree, caller(tree.a, parent=tree.root, tokens=100), 150)
    assert isinstance(small, BudgetExceeded) and small.run == tree.a
