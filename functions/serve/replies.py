"""What a served function answers, as Knative's delivery reads it (mapped once, here).

- 400: the request is not a usable CloudEvent (malformed, off-schema, misrouted, too big).
- 422: ``PermanentError``: Knative does not retry it and hands the event to the dead-letter
  sink, with this JSON body base64'd in ``knativeerrordata`` (``dead_letter`` reads
  ``reason`` and ``message`` from it).
- 503, or 429 with ``Retry-After`` when the error has a delay: ``TransientError`` and
  store conflicts; Knative retries with the Trigger's backoff.
- 200 with one binary CloudEvent, or 202 with an empty body.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Final

from events.errors import BatonError, MalformedEvent, PermanentError, TransientError
from functions.ports import Conflict

__all__ = [
    "MAX_MESSAGE",
    "Reply",
    "error_reply",
    "http_error",
    "internal_error",
    "json_error",
    "unavailable",
]

# Knative truncates the error body it forwards to the dead-letter sink; keep it whole.
MAX_MESSAGE: Final = 700


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, headers and body."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_error(
    status: int, reason: str, message: str, headers: dict[str, str] | None = None
) -> Reply:
    """A JSON error answer naming ``reason`` with a human ``message``."""
    text = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"
    # "error" for people and clients, "reason" for functions/dead_letter.py.
    body = json.dumps({"error": reason, "reason": reason, "message": text}).encode()
    return Reply(status, body, {"content-type": "application/json", **(headers or {})})


def unavailable(message: str) -> Reply:
    """503: not ready (the store does not answer)."""
    return json_error(503, "Unavailable", message)


def error_reply(exc: BaseException) -> Reply | None:
    """The answer for an error a transition (or the sink) raised; None when it is a bug."""
    if isinstance(exc, MalformedEvent):
        return json_error(400, exc.reason, exc.message)
    if isinstance(exc, PermanentError):
        return json_error(422, exc.reason, exc.message)
    if isinstance(exc, TransientError):
        if exc.delay is not None:
            seconds = str(max(1, math.ceil(exc.delay)))
            return json_error(429, exc.reason, exc.message, {"retry-after": seconds})
        return json_error(503, exc.reason, exc.message)
    if isinstance(exc, Conflict):
        return json_error(503, "Conflict", f"store conflict, retry: {exc}")
    if isinstance(exc, BatonError):
        return json_error(500, exc.reason, exc.message)
    return None


def internal_error(exc: BaseException) -> Reply:
    """500 naming the exception type (the traceback goes to the log, not the wire)."""
    return json_error(500, "InternalError", f"{type(exc).__name__}: {exc}")


def http_error(status: int, name: str, description: str) -> Reply:
    """A routing error (404, 405) as JSON."""
    return json_error(status, name.replace(" ", ""), description)
