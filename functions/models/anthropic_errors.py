"""The one mapping from the Anthropic SDK's exceptions to baton's error taxonomy.

Transient (retried by the transport, honouring retry-after): 429, 408, 409, 5xx and 529,
an error event inside a stream, timeouts, connection failures, a garbled reply.
Permanent (the run fails with a reason a person can act on): every other 4xx.
No message ever carries the API key, even if an upstream error were to echo it.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Final

from events.errors import BatonError, PermanentError, TransientError
from functions.models.keys import ApiKey

__all__ = ["from_sdk_error", "retry_after_seconds"]

_TRANSIENT_TYPES: Final = frozenset({"rate_limit_error", "overloaded_error", "api_error"})
_MAX_DELAY: Final = 3600.0
# The SDK's stream accumulator raises a bare ValueError with this text and advises a retry.
_BAD_TOOL_JSON: Final = "Unable to parse tool parameter JSON"


def from_sdk_error(exc: BaseException, *, model: str, key: ApiKey) -> BatonError | None:
    """The baton error for an exception raised by a model call; None if it is not one of ours."""
    import anthropic
    import httpx2

    error: BatonError | None
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        error = TransientError("the model API did not answer in time", reason="ModelTimeout")
    elif isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
        error = TransientError(
            f"cannot reach the model API: {exc.__class__.__name__}", reason="ModelUnreachable"
        )
    elif isinstance(exc, anthropic.APIStatusError):
        error = _from_status(exc, model=model, key=key)
    elif isinstance(exc, anthropic.APIResponseValidationError | json.JSONDecodeError) or (
        isinstance(exc, ValueError) and str(exc).startswith(_BAD_TOOL_JSON)
    ):
        # A reply that does not parse (truncated JSON, bad tool input) is worth another try.
        error = TransientError(
            "the model API sent a reply that does not parse", reason="ModelReplyInvalid"
        )
    else:
        return None
    return _redacted(error, key)


def _from_status(exc: object, *, model: str, key: ApiKey) -> BatonError:
    import anthropic

    assert isinstance(exc, anthropic.APIStatusError)
    status, kind = exc.status_code, exc.type or ""
    detail = exc.api_message or f"HTTP {status}"
    delay = retry_after_seconds(exc.response.headers)
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


def _redacted(error: BatonError, key: ApiKey) -> BatonError:
    if not key.value or key.value not in error.message:
        return error
    message = error.message.replace(key.value, "[redacted]")
    if isinstance(error, TransientError):
        return TransientError(message, delay=error.delay, reason=error.reason)
    return PermanentError(message, reason=error.reason)
