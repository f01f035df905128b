"""Claims on effects: a model or tool call is claimed in the run's record before it runs.

``status.claims[key] = {"owner", "expiresAt"}``. A delivery runs a call only after it
committed its own claim; another delivery seeing a live claim leaves the call alone.
The owner renews the lease while the call runs (``Lease``), so a slow call keeps it and
a dead owner's claim lapses within ``LEASE_SECONDS`` (at once where its process is known
to be gone: ``functions.run.owners``); the call then runs again with the same idempotency
key. The claim is removed in the commit that records the result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from functions.run import owners
from functions.run.status import parse_time, rfc3339

__all__ = [
    "LEASE_SECONDS",
    "RENEW_SECONDS",
    "claim",
    "holder",
    "is_live",
    "llm_claim",
    "new_owner",
    "release",
    "renewing",
    "tool_claim",
]

LEASE_SECONDS: Final = 6.0
# Renewed once less than this is left: a renewal is a commit, so not at every check.
RENEW_SECONDS: Final = 4.0
log = logging.getLogger("baton.claims")


def llm_claim(step: int) -> str:
    """The claim key of the model call of ``step``."""
    return f"llm/{step}"


def tool_claim(step: int, call_id: str) -> str:
    """The claim key of one tool call."""
    return f"tool/{step}/{call_id}"


def new_owner() -> str:
    """A fresh owner id for one delivery's claim (naming its process: ``owners``)."""
    return owners.new_owner()


def is_live(status: Mapping[str, Any], key: str, now: float) -> bool:
    """True while someone holds ``key`` and its lease has not lapsed."""
    held = (status.get("claims") or {}).get(key)
    if not held:
        return False
    expires = parse_time(held.get("expiresAt"))
    # A claim whose owner process is known dead is free now, not when its lease lapses.
    return expires is not None and expires > now and not owners.gone(held.get("owner"))


def holder(status: Mapping[str, Any], key: str) -> str | None:
    """Who holds ``key`` (live or lapsed), if anyone."""
    held = (status.get("claims") or {}).get(key)
    return str(held.get("owner")) if held else None


def claim(status: dict[str, Any], key: str, owner: str, now: float) -> None:
    """Take ``key`` for ``owner`` in ``status`` (the caller checked it is free)."""
    claims = dict(status.get("claims") or {})
    claims[key] = {"owner": owner, "expiresAt": rfc3339(now + LEASE_SECONDS)}
    status["claims"] = claims


def release(status: dict[str, Any], key: str) -> None:
    """Drop ``key`` from ``status`` (the result is recorded in the same commit)."""
    claims = dict(status.get("claims") or {})
    claims.pop(key, None)
    if claims:
        status["claims"] = claims
    else:
        status.pop("claims", None)


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
