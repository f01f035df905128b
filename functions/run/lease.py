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

__all__ = ["held", "release_all"]


@contextlib.contextmanager
def held(deps: Deps, ref: RunRef, key: str, owner: str) -> Iterator[None]:
    """Renew ``owner``'s claim ``key`` on the run ``ref`` while the body runs."""

    renewed = [deps.clock.now()]

    def extend(view: RunView) -> Outcome:
        if claims.holder(view.status, key) != owner:
            return Outcome()
        st = view.edit()
        claims.claim(st, key, owner, view.now)
        return Outcome(st)

    def renew() -> bool:
        renewed[0] = deps.clock.now()
        return advance(deps, ref, extend).committed

    def due() -> bool:
        left = claims.LEASE_SECONDS - (deps.clock.now() - renewed[0])
        return left < claims.RENEW_SECONDS

    with claims.renewing(renew, due):
        yield


def release_all(deps: Deps, run_ref: RunRef) -> bool:
    """Drop every claim on a run: their owners are known dead (the embedded server restarted).

    Only the one process that owns a store may say so (``Embedded`` holds the store's lock);
    elsewhere a claim lapses with its lease.
    """

    def forget(view: RunView) -> Outcome:
        if not view.status.get("claims"):
            return Outcome()
        st = view.edit()
        st.pop("claims", None)
        return Outcome(st)

    return advance(deps, run_ref, forget).committed
