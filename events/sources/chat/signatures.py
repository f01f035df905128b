"""Webhook signatures: Slack v0, generic ``X-Baton-Signature``, Telegram token, Discord Ed25519.

Every check compares in constant time and raises ``SignatureError`` (HTTP 401) with a
message that names what is wrong but never the secret or the expected signature.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any, Final

from events.errors import PermanentError

__all__ = [
    "MAX_SKEW",
    "SignatureError",
    "check_fresh",
    "hmac_hex",
    "sign_baton",
    "verify_baton",
    "verify_discord",
    "verify_slack",
    "verify_token",
]

# Slack refuses requests older than five minutes; the same window protects the others.
MAX_SKEW: Final = 300.0
# Unix seconds as the platforms send them: ASCII digits only (int() would also take "1_0",
# " 10", Arabic-Indic digits and 4,000-digit numbers that overflow a float).
_TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")
# A header a client controls is matched against, never echoed or parsed past this length.
MAX_HEADER: Final = 4096


class SignatureError(PermanentError):
    """The request is not signed by who it claims (HTTP 401); nothing is published."""

    reason = "BadSignature"


def hmac_hex(secret: str, message: bytes) -> str:
    """Hex HMAC-SHA256 of ``message`` under ``secret``."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _matches(expected: str, offered: Iterable[str]) -> bool:
    # Compare against every offered value without stopping early (rotation sends several).
    found = False
    for value in offered:
        found |= hmac.compare_digest(expected.encode(), value.strip().encode())
    return found


def check_fresh(timestamp: str | None, now: float, max_skew: float = MAX_SKEW) -> int:
    """The timestamp as an int when within ``max_skew`` s of ``now`` (replays refused)."""
    if not timestamp:
        raise SignatureError("the request timestamp is missing")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("the request timestamp is not unix seconds (1 to 12 digits)")
    ts = int(timestamp)
    if abs(now - ts) > max_skew:
        raise SignatureError(
            f"the request timestamp is {int(now - ts)} s off the server clock "
            f"(more than {int(max_skew)} s): a replay, or a clock out of sync"
        )
    return ts


def verify_slack(
    secret: str,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    now: float,
    max_skew: float = MAX_SKEW,
) -> None:
    """Slack's ``X-Slack-Signature``: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    if not signature:
        raise SignatureError("X-Slack-Signature is missing")
    check_fresh(timestamp, now, max_skew)
    expected = "v0=" + hmac_hex(secret, b"v0:" + str(timestamp).encode() + b":" + body)
    if not _matches(expected, [signature]):
        raise SignatureError("X-Slack-Signature does not match the body and signing secret")


def sign_baton(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Baton-Signature`` value for ``body``: ``t=<ts>,v1=<hex hmac of "<ts>.<body>">``."""
    return f"t={timestamp},v1={hmac_hex(secret, str(timestamp).encode() + b'.' + body)}"


def verify_baton(
    secret: str, header: str | None, body: bytes, now: float, max_skew: float = MAX_SKEW
) -> None:
    """The generic webhook's ``X-Baton-Signature`` (several ``v1`` allowed, for key rotation)."""
    if not header:
        raise SignatureError("X-Baton-Signature is missing")
    if len(header) > MAX_HEADER:
        raise SignatureError(f"X-Baton-Signature is longer than {MAX_HEADER} characters")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    if "t" not in parts or "v1" not in parts:
        raise SignatureError("X-Baton-Signature must look like t=<unix seconds>,v1=<hex>")
    timestamp = parts["t"][0]
    check_fresh(timestamp, now, max_skew)
    expected = hmac_hex(secret, timestamp.encode() + b"." + body)
    if not _matches(expected, parts["v1"]):
        raise SignatureError("X-Baton-Signature does not match the body and shared secret")


def verify_token(secret: str, offered: str | None, header: str) -> None:
    """A shared token sent as is (Telegram's ``X-Telegram-Bot-Api-Secret-Token``)."""
    if not offered:
        raise SignatureError(f"{header} is missing")
    if not _matches(secret, [offered]):
        raise SignatureError(f"{header} does not match")


@functools.lru_cache(maxsize=8)
def _ed25519_key(public_key_hex: str) -> Any:
    """The public key object, loaded once per key (one per deployment)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))


def verify_discord(
    public_key_hex: str,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    now: float,
    max_skew: float = MAX_SKEW,
) -> None:
    """Discord's ``X-Signature-Ed25519`` over ``timestamp + body`` with the app's public key."""
    from cryptography.exceptions import InvalidSignature

    if not signature:
        raise SignatureError("X-Signature-Ed25519 is missing")
    check_fresh(timestamp, now, max_skew)
    try:
        key = _ed25519_key(public_key_hex)
    except ValueError as exc:
        # A deployment error, not the caller's: say so without echoing the key.
        raise SignatureError(
            "the configured Discord public key is not 32 hex-encoded bytes"
        ) from exc
    try:
        key.verify(bytes.fromhex(signature), str(timestamp).encode() + body)
    except (InvalidSignature, ValueError):
        raise SignatureError("X-Signature-Ed25519 does not verify with the public key") from None
