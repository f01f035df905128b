"""The run's ``Delivered`` condition: whether its answer reached its chat thread."""

from __future__ import annotations

from typing import Final

from events.envelope import RunRef
from functions.ports import Deps
from functions.run.status import set_condition
from functions.run.step import Outcome, advance
from functions.run.view import RunView

__all__ = ["CONDITION", "gave_up", "settle"]

CONDITION: Final = "Delivered"


def settle(deps: Deps, ref: RunRef, ok: bool, reason: str, message: str) -> None:
    """Record how the delivery went (``ok``) with a reason a person reads."""

    def decide(view: RunView) -> Outcome:
        st = view.edit()
        set_condition(st, CONDITION, ok, reason, message, view.now)
        return Outcome(st)

    advance(deps, ref, decide)


def gave_up(deps: Deps, ref: RunRef, reason: str, message: str) -> None:
    """The bus stopped retrying a delivery: say so on the run (not ``Retrying`` forever)."""
    settle(deps, ref, False, "DeliveryFailed", f"gave up delivering the answer: {message}")
