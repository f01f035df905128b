"""The one error taxonomy. Every transport maps these exactly once.

``PermanentError``: retrying cannot help (bad input, refused by the model API, a
policy says no). HTTP 4xx other than 404/408/409/429, NATS ``term()``, the run
goes Failed with ``reason``/``message``.

``TransientError``: the same event may succeed later (rate limits, overload,
connection errors). HTTP 5xx/429, NATS ``nak(delay)``, in-process retry.
"""

from __future__ import annotations

__all__ = ["BatonError", "MalformedEvent", "PermanentError", "TransientError"]


class BatonError(Exception):
    """Root of baton's errors; ``reason`` is a CamelCase word, ``message`` a sentence."""

    reason: str = "Error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class PermanentError(BatonError):
    """Never retried: the event is dead-lettered and its run fails with the reason."""

    reason = "PermanentError"


class TransientError(BatonError):
    """Retried after ``delay`` seconds (``None``: the transport's own backoff)."""

    reason = "TransientError"

    def __init__(
        self, message: str, *, delay: float | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.delay = delay


class MalformedEvent(PermanentError):
    """The event itself is unusable (not a CloudEvent, bad attributes, data off-schema)."""

    reason = "MalformedEvent"
