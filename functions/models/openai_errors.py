"""The OpenAI SDK's exceptions read into baton's one error taxonomy (``api_errors``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from events.errors import BatonError
from functions.models.api_errors import (
    from_status,
    redacted,
    reply_invalid,
    timed_out,
    unreachable,
)
from functions.models.keys import ApiKey

__all__ = ["from_sdk_error"]

# An error event inside a stream has no HTTP status: the server failed after answering 200.
_MID_STREAM_STATUS = 500


def from_sdk_error(exc: BaseException, *, model: str, key: ApiKey) -> BatonError | None:
    """The baton error for an exception raised by a model call; None if it is not one of ours."""
    import httpx2
    import openai

    error: BatonError
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        error = timed_out()
    elif isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        error = unreachable(exc)
    elif isinstance(exc, openai.APIStatusError):
        kind, detail = _facts(exc.body)
        error = from_status(
            exc.status_code,
            kind=kind,
            detail=detail,
            headers=exc.response.headers,
            model=model,
            key=key,
        )
    elif isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
        error = reply_invalid()
    elif isinstance(exc, openai.APIError):
        kind, detail = _facts(exc.body)
        error = from_status(
            _MID_STREAM_STATUS, kind=kind, detail=detail, headers={}, model=model, key=key
        )
    else:
        return None
    return redacted(error, key)


def _facts(body: Any) -> tuple[str, str]:
    """(error code or type, the API's message) from an error body of any compatible server."""
    if not isinstance(body, Mapping):
        return "", str(body or "")[:500]
    kind = body.get("code") or body.get("type") or ""
    message = body.get("message") or body.get("detail") or ""
    return str(kind), str(message)[:500]
