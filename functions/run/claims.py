"""Claims on effects: a model or tool call is claimed in the run's record before it runs.

``status.claims[key] = {"owner", "expiresAt"}``. A delivery runs a call only after it
committed its own claim; another delivery seeing a live claim leaves the call alone.
The owner renews the lease while the call runs (``functions.run.lease``), so a slow
call keeps it and a dead owner's claim lapses within ``LEASE_SECONDS`` (at once where its
process is known to be gone: ``functions.run.owners``); the call then runs again with the
same idempotency key. The claim is removed in the commit that records the result.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    "tool_claim",
]

LEASE_SECONDS: Final = 6.0
# Renewed once less than this is left: a renewal is a commit, so not at every check.
RENEW_SECONDS: Final = 4.0


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
