"""The one delivery policy every bus follows: what a handler's outcome means for its event.

A handler returns (the event is done), or raises. ``TransientError`` and anything
unexpected (a bug, a store or network failure) are retried with backoff, or after
the error's own delay, up to ``max_attempts``; ``PermanentError`` (a malformed event
included) and a retry budget spent send the event to the dead letter with the reason.
Store errors classify by the HTTP status they carry, as the API server's would: 409
and 5xx are worth a retry, other 4xx are not. The in-process bus and the JetStream
consumer settle by this; the HTTP functions map it onto status codes
(functions.serve.replies), which Knative's retry and dead-letter sink then follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from events.errors import PermanentError, TransientError

__all__ = ["RetryPolicy", "Verdict", "classify"]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``base * 2**(attempt-1)`` capped at ``cap``, ``max_attempts`` tries."""

    max_attempts: int = 8
    base: float = 0.05
    cap: float = 30.0

    def delay(self, attempt: int, hint: float | None) -> float:
        """Seconds to wait before the next attempt."""
        if hint is not None:
            return min(max(hint, 0.0), self.cap)
        return float(min(self.base * 2 ** (attempt - 1), self.cap))


@dataclass(frozen=True)
class Verdict:
    """What to do with an event whose handler raised: retry after ``delay``, or dead-letter."""

    action: Literal["retry", "dead"]
    reason: str
    message: str
    delay: float = 0.0
    exhausted: bool = False  # dead because the retry budget is spent, not for its own sake


def _transient(exc: BaseException) -> TransientError | None:
    if isinstance(exc, TransientError):
        return exc
    if isinstance(exc, PermanentError):
        return None
    status = getattr(exc, "status", None)
    if isinstance(status, int) and 400 <= status < 500 and status not in (408, 409, 429):
        return None
    return TransientError(f"{type(exc).__name__}: {exc}", reason="InternalError")


def classify(exc: BaseException, attempt: int, policy: RetryPolicy) -> Verdict:
    """The verdict for ``exc`` raised on delivery ``attempt`` (1-based)."""
    transient = _transient(exc)
    if transient is None:
        reason = getattr(exc, "reason", type(exc).__name__)
        return Verdict("dead", str(reason), str(getattr(exc, "message", exc)))
    if attempt >= policy.max_attempts:  # the bus says how it gave up, in its own words
        return Verdict("dead", transient.reason, transient.message, exhausted=True)
    return Verdict(
        "retry", transient.reason, transient.message, policy.delay(attempt, transient.delay)
    )
