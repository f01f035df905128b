"""Who may act from the console: the same bearer token as the functions' ingress.

Reading is open (the console is read-only by default); an action (approve, reject,
cancel, send input) changes a run, so it needs ``Authorization: Bearer
$BATON_INGRESS_TOKEN`` when that token is set, and is refused outright when the server
listens beyond loopback without one.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Final

__all__ = ["LOOPBACK", "TOKEN_ENV", "action_refusal"]

TOKEN_ENV: Final = "BATON_INGRESS_TOKEN"
LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1", ""})


def action_refusal(
    headers: Mapping[str, str], *, token: str | None, bind_host: str
) -> tuple[int, str] | None:
    """None when the request may act; else (HTTP status, reason a person can read)."""
    if not token:
        if bind_host.strip("[]") in LOOPBACK:
            return None
        return (
            403,
            f"actions are off: the console listens on {bind_host} and {TOKEN_ENV} is not set",
        )
    given = headers.get("Authorization") or headers.get("authorization") or ""
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not value:
        return 401, "this action needs Authorization: Bearer <token>"
    if not hmac.compare_digest(value.strip().encode(), token.encode()):
        return 401, "the bearer token is not valid"
    return None
