"""Leases on claims: one keeper thread renews every held claim while its call runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from functions.run import lease


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def _keepers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "baton-leases"]


def test_many_held_leases_share_one_thread_and_each_is_renewed() -> None:
    """Twenty calls at once: one keeper thread, every due lease renewed while held."""
    renewals = [0] * 20
    release = threading.Event()
    holders = []

    def hold(index: int) -> None:
        def renew() -> bool:
            renewals[index] += 1
            return True

        with lease.renewing(renew, due=lambda: True):
            release.wait(10)

    for index in range(20):
        holders.append(threading.Thread(target=hold, args=(index,)))
        holders[-1].start()
    assert _wait_for(lambda: min(renewals) >= 2), renewals
    assert len(_keepers()) == 1
    release.set()
    for holder in holders:
        holder.join(5)
    settled = list(renewals)
    time.sleep(0.2)  # several beats: a released lease is renewed no more
    assert renewals == settled


def test_renewal_stops_once_the_claim_is_no_longer_ours() -> None:
    """``renew`` returning False (someone else holds the claim) ends the renewals."""
    calls = []

    def renew() -> bool:
        calls.append(time.monotonic())
        return False

    with lease.renewing(renew, due=lambda: True):
        assert _wait_for(lambda: len(calls) >= 1)
        time.sleep(0.2)
    assert len(calls) == 1


def test_a_lease_not_due_is_not_renewed_and_a_failing_renewal_is_retried() -> None:
    """Nothing is committed before the lease runs short; an error is retried at the next beat."""
    due = threading.Event()
    attempts = []

    def renew() -> bool:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("store unreachable")
        return True

    with lease.renewing(renew, due=due.is_set):
        time.sleep(0.2)
        assert attempts == []
        due.set()
        assert _wait_for(lambda: len(attempts) >= 2)


def test_leaving_waits_for_a_renewal_under_way() -> None:
    """The call's result is committed only after a renewal in flight has finished."""
    started, finished = threading.Event(), threading.Event()

    def renew() -> bool:
        started.set()
        time.sleep(0.2)
        finished.set()
        return True

    with lease.renewing(renew, due=lambda: not started.is_set()):
        assert started.wait(5)
    assert finished.is_set()
