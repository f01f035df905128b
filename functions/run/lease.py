"""Holding a claim while its call runs: the lease is renewed in the run's record.

    with held(deps, ref, claims.tool_claim(step, call_id), owner):
        result = run_the_tool()

A call slower than the lease keeps its claim; once the claim is no longer the
owner's (the run moved on, or another owner took over a lapsed claim) renewal stops.
One keeper thread per process renews every held lease.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

from events.envelope import RunRef
from functions.ports import Deps
from functions.run import claims
from functions.run.step import Outcome, advance
from functions.run.view import RunView

__all__ = ["held", "release_all", "renewing"]

log = logging.getLogger("baton.claims")


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

    with renewing(renew, due):
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


class _Lease:
    """One held claim: when it is due, and whether its owner still wants it renewed."""

    def __init__(self, renew: Callable[[], bool], due: Callable[[], bool]) -> None:
        self.renew, self.due = renew, due
        self.busy = threading.Lock()  # held while a renewal commits
        self.ended = False


class _Keeper:
    """One thread per process renews every held lease, rather than a thread per call.

    Most calls end long before their lease is due, so holding one costs a set insertion, not
    a thread. Renewals run one after another on the keeper's thread: a renewal is one commit,
    and ``RENEW_SECONDS`` leaves seconds of margin for many of them in a row.
    """

    def __init__(self, poll: float) -> None:
        self.poll = poll
        self._leases: set[_Lease] = set()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, lease: _Lease) -> None:
        with self._changed:
            self._leases.add(lease)
            self._changed.notify()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="baton-leases", daemon=True)
                self._thread.start()

    def remove(self, lease: _Lease) -> None:
        with self._changed:
            self._leases.discard(lease)
        with lease.busy:  # a renewal under way finishes before the call's result commits
            lease.ended = True

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._leases:  # idle: no wake-ups while nothing is held
                    self._changed.wait()
            time.sleep(self.poll)
            with self._changed:
                leases = list(self._leases)
            for lease in leases:
                self._beat(lease)

    def _beat(self, lease: _Lease) -> None:
        with lease.busy:
            if lease.ended or not lease.due():
                return
            try:
                keep = lease.renew()
            except Exception:  # a failed renewal is retried at the next beat
                log.warning("claim renewal failed", exc_info=True)
                return
        if not keep:
            with self._changed:
                self._leases.discard(lease)


_keeper = _Keeper(poll=0.05)


def _forget_after_fork() -> None:
    # A forked child (a gunicorn worker) has none of its parent's calls, nor its thread.
    global _keeper
    _keeper = _Keeper(poll=0.05)


os.register_at_fork(after_in_child=_forget_after_fork)


@contextlib.contextmanager
def renewing(renew: Callable[[], bool], due: Callable[[], bool]) -> Iterator[None]:
    """While the body runs, call ``renew`` whenever ``due`` says the lease runs short.

    ``due`` reads the run's clock (so a test's clock is honoured); checking it is cheap, a
    renewal is one commit. ``renew`` returns False once the claim is no longer ours;
    renewal then stops (the result commit will find out and drop the result).
    """
    lease = _Lease(renew, due)
    _keeper.add(lease)
    try:
        yield
    finally:
        _keeper.remove(lease)
