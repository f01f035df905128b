"""The one mapping from a model API's failure to baton's error taxonomy, for every provider.

Each provider's SDK has its own exception classes; its adapter only reads the facts out of
them (HTTP status, error type or code, the API's message, the headers) and this module
decides. Transient (retried by the transport, honouring retry-after): 429, 408, 409, 5xx and
529, an error inside a stream, timeouts, connection failures, a garbled reply. Permanent
(the run fails with a reason a person can act on): every other 4xx, and an exhausted quota.
No message ever carries the API key, even if an upstream error were to echo it.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Final

from events.errors import BatonError, PermanentError, TransientError
from functions.models.keys import ApiKey

__all__ = [
    "from_status",
    "redacted",
    "reply_invalid",
    "retry_after_seconds",
    "timed_out",
    "unreachable",
]

# Error types (Anthropic) and codes (OpenAI) that mean "try again" whatever the status.
_TRANSIENT_TYPES: Final = frozenset(
    {"rate_limit_error", "overloaded_error", "api_error", "server_error", "rate_limit_exceeded"}
)
# A 429 that no wait will cure: the account has no credit left.
_QUOTA_CODES: Final = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
_MAX_DELAY: Final = 3600.0


def from_status(
    status: int,
    *,
    kind: str,
    detail: str,
    headers: Mapping[str, str],
    model: str,
    key: ApiKey,
) -> BatonError:
    """The error for an HTTP error reply; ``kind`` is the API's error type or code."""
    detail = detail or f"HTTP {status}"
    delay = retry_after_seconds(headers)
    if kind in _QUOTA_CODES:
        return PermanentError(
            f"the model API account is out of quota: check billing for {key.source} ({detail})",
            reason="ModelQuotaExceeded",
        )
    if status == 429:
        return TransientError(
            f"rate limited by the model API: {detail}", delay=delay, reason="ModelRateLimited"
        )
    if status == 529 or kind == "overloaded_error":
        return TransientError(
            f"the model API is overloaded: {detail}", delay=delay, reason="ModelOverloaded"
        )
    if status >= 500 or status in (408, 409) or kind in _TRANSIENT_TYPES:
        return TransientError(
            f"the model API failed: {detail}", delay=delay, reason="ModelUnavailable"
        )
    if status in (401, 403):
        verb = "authentication failed" if status == 401 else "permission denied"
        return PermanentError(
            f"{verb}: check {key.source} ({detail})", reason="ModelAuthenticationFailed"
        )
    if status == 404:
        return PermanentError(f"model not found: {model} ({detail})", reason="ModelNotFound")
    return PermanentError(
        f"the model API rejected the request: {detail}", reason="ModelRequestInvalid"
    )


def timed_out() -> TransientError:
    """The call took longer than the Model's timeoutSeconds."""
    return TransientError("the model API did not answer in time", reason="ModelTimeout")


def unreachable(exc: BaseException) -> TransientError:
    """The connection failed or went away (the exception's class names how, not its text)."""
    return TransientError(
        f"cannot reach the model API: {exc.__class__.__name__}", reason="ModelUnreachable"
    )


def reply_invalid() -> TransientError:
    """A reply that does not parse (truncated JSON, bad tool input) is worth another try."""
    return TransientError(
        "the model API sent a reply that does not parse", reason="ModelReplyInvalid"
    )


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if not value:
            continue
        try:
            return min(max(float(value) * scale, 0.0), _MAX_DELAY)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            continue
        return min(max(when - time.time(), 0.0), _MAX_DELAY)
    return None


def redacted(error: BatonError, key: ApiKey) -> BatonError:
    """``error`` with every occurrence of the key's value replaced."""
    if not key.value or key.value not in error.message:
        return error
    message = error.message.replace(key.value, "[redacted]")
    if isinstance(error, TransientError):
        return TransientError(message, delay=error.delay, reason=error.reason)
    return PermanentError(message, reason=error.reason)
