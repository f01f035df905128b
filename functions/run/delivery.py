"""The run's ``Delivered`` condition: whether its answer reached its chat thread."""

from __future__ import annotations

from typing import Any, Final

from events.envelope import RunRef
from functions.agentrun import set_condition, transact
from functions.ports import Deps, Resource

__all__ = ["CONDITION", "gave_up", "settle"]

CONDITION: Final = "Delivered"


def settle(deps: Deps, ref: RunRef, ok: bool, reason: str, message: str) -> None:
    """Record how the delivery went (``ok``) with a reason a person reads."""
    now = deps.clock.now()

    def decide(run: Resource, st: dict[str, Any]) -> bool:
        set_condition(st, CONDITION, ok, reason, message, now)
        return True

    transact(deps, ref, decide)


def gave_up(deps: Deps, ref: RunRef, reason: str, message: str) -> None:
    """The bus stopped retrying a delivery: say so on the run (not ``Retrying`` forever)."""
    settle(deps, ref, False, "DeliveryFailed", f"gave up delivering the answer: {message}")
