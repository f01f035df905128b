"""Model failover: an ordered list of Models behaving as one ``Model``.

An Agent names its model and ordered fallbacks. A call goes to the first; a transient
failure (rate limit, overload, 5xx, timeout) is retried on the same model up to its
attempts (the Model's ``failoverAttempts``, default 2), waiting what the API asked (capped);
past that, or at once on a
permanent failure another model could serve (model not found, quota exhausted), the next
model takes the call. Any other permanent failure (a request the API rejects, a wrong key)
would fail on every model the same way, or is a mistake a person must see: it is raised as
is. When every model failed, the last failure is raised and the transport retries the whole
chain later. The reply names the Model that answered and every switch before it, so the run
can record who answered each step and why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

from events.errors import BatonError, PermanentError, TransientError
from functions.ports import Model, ModelReply, ModelRequest, ModelSwitch

__all__ = ["DEFAULT_ATTEMPTS", "SERVABLE_ELSEWHERE", "FailoverModel"]

log = logging.getLogger(__name__)

DEFAULT_ATTEMPTS: Final = 2
# Permanent failures that say nothing about the request, only about this model.
SERVABLE_ELSEWHERE: Final = frozenset({"ModelNotFound", "ModelOverloaded", "ModelQuotaExceeded"})
_MAX_WAIT: Final = 2.0  # seconds between attempts on one model; longer waits go to the transport
_BACKOFF: Final = 0.2


class FailoverModel:
    """A ``Model`` that asks each ``(name, model)`` in order under the failover rules.

    ``attempts`` is how often each model is tried on a transient failure before the next
    takes over: one number for all, or one per model in the order given.
    """

    def __init__(
        self,
        models: Sequence[tuple[str, Model]],
        *,
        attempts: int | Sequence[int] = DEFAULT_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not models:
            raise ValueError("FailoverModel needs at least one model")
        self.models = list(models)
        tries = [attempts] * len(models) if isinstance(attempts, int) else list(attempts)
        self.attempts = [max(1, n) for n in tries]
        self._sleep = sleep

    def complete(self, request: ModelRequest) -> ModelReply:
        """The first reply of the chain; raises the last failure when every model failed."""
        switches: list[ModelSwitch] = []
        for index, (name, model) in enumerate(self.models):
            last = index == len(self.models) - 1
            try:
                reply = self._ask(model, request, self.attempts[index] if not last else 1)
            except BatonError as error:
                if last or not _next_may_serve(error):
                    raise
                switches.append(ModelSwitch(name, error.reason, error.message))
                log.info("model failover: %s failed (%s), asking the next", name, error.reason)
                continue
            return replace(reply, answered_by=name, switches=tuple(switches))
        raise AssertionError("unreachable: the last model returns or raises")

    def _ask(self, model: Model, request: ModelRequest, tries: int) -> ModelReply:
        # The last model is asked once: its transient failure goes to the transport, which
        # retries the whole chain with the attempt visible on the run.
        for attempt in range(tries):
            try:
                return model.complete(request)
            except TransientError as error:
                if attempt + 1 == tries:
                    raise
                wait = error.delay if error.delay is not None else _BACKOFF * 2**attempt
                self._sleep(min(wait, _MAX_WAIT))
        raise AssertionError("unreachable: the last attempt returns or raises")


def _next_may_serve(error: BatonError) -> bool:
    """Whether another model could answer where this one failed."""
    if isinstance(error, TransientError):
        return True
    return isinstance(error, PermanentError) and error.reason in SERVABLE_ELSEWHERE
