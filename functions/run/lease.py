"""Holding a claim while its call runs: the lease is renewed in the run's record.

    with held(deps, ref, claims.tool_claim(step, call_id), owner):
        result = run_the_tool()

A call slower than the lease keeps its claim; once the claim is no longer the
owner's (the run moved on, or another owner took over a lapsed claim) renewal stops.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from events.envelope import RunRef
from functions.ports import Deps
from functions.run import claims
from functions.run.step import Outcome, advance
from functions.run.view import RunView

__all__ = ["held"]


@contextlib.contextmanager
def held(deps: Deps, ref: RunRef, key: str, owner: str) -> Iterator[None]:
    """Renew ``owner``'s claim ``key`` on the run ``ref`` while the body runs."""

    def extend(view: RunView) -> Outcome:
        if claims.holder(view.status, key) != owner:
            return Outcome()
        st = view.edit()
        claims.claim(st, key, owner, view.now)
        return Outcome(st)

    with claims.renewing(lambda: advance(deps, ref, extend).committed):
        yield
