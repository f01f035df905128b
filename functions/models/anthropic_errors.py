"""The Anthropic SDK's exceptions read into baton's one error taxonomy (``api_errors``)."""

from __future__ import annotations

import json
from typing import Final

from events.errors import BatonError
from functions.models.api_errors import (
    from_status,
    redacted,
    reply_invalid,
    retry_after_seconds,
    timed_out,
    unreachable,
)
from functions.models.keys import ApiKey

__all__ = ["from_sdk_error", "retry_after_seconds"]

# The SDK's stream accumulator raises a bare ValueError with this text and advises a retry.
_BAD_TOOL_JSON: Final = "Unable to parse tool parameter JSON"


def from_sdk_error(exc: BaseException, *, model: str, key: ApiKey) -> BatonError | None:
    """The baton error for an exception raised by a model call; None if it is not one of ours."""
    import anthropic
    import httpx2

    error: BatonError
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        error = timed_out()
    elif isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
        error = unreachable(exc)
    elif isinstance(exc, anthropic.APIStatusError):
        error = from_status(
            exc.status_code,
            kind=exc.type or "",
            detail=exc.api_message or "",
            headers=exc.response.headers,
            model=model,
            key=key,
        )
    elif isinstance(exc, anthropic.APIResponseValidationError | json.JSONDecodeError) or (
        isinstance(exc, ValueError) and str(exc).startswith(_BAD_TOOL_JSON)
    ):
        error = reply_invalid()
    else:
        return None
    return redacted(error, key)
