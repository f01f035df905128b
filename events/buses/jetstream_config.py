"""JetStream settings and the subject scheme: which subject an event type travels on."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from events.errors import MalformedEvent

__all__ = ["JetStreamConfig", "connection_errors", "dead_letter_subject", "subject_for"]

_BATON: Final = "dev.baton."
_APISERVER: Final = "dev.knative.apiserver."
_DEAD_LETTER: Final = "deadletter"
_TOKEN: Final = re.compile(r"^[^\s.*>]+$")


@dataclass(frozen=True)
class JetStreamConfig:
    """Where the bus connects and how its stream and consumers are set up (seconds)."""

    url: str = "nats://127.0.0.1:4222"
    stream: str = "BATON"
    prefix: str = "baton"
    storage: str = "file"  # or "memory"
    replicas: int = 1
    max_age: float = 7 * 24 * 3600.0
    duplicate_window: float = 120.0
    # A message held by a worker that died comes back this soon; a live handler keeps it
    # with in-progress acks every ack_wait / 2, however long its model call takes.
    ack_wait: float = 6.0
    max_deliver: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 5.0  # a retry waits at most this: a run is never parked for long
    concurrency: int = 4
    # A dead worker's pull requests keep taking messages until they expire: keep that short,
    # so what the server hands a killed worker is redelivered within seconds, not 30 s.
    pull_expires: float = 6.0
    pull_heartbeat: float = 2.0
    dead_letter_consumer: str = "deadletter"
    request_timeout: float = 10.0
    connect_options: dict[str, Any] = field(default_factory=dict)


def subject_for(event_type: str, prefix: str = "baton") -> str:
    """The subject an event type travels on: ``dev.baton.llm.requested`` -> ``baton.llm.requested``,
    ``dev.knative.apiserver.resource.add`` -> ``baton.apiserver.resource.add``, others
    ``baton.ext.<type>``."""
    if event_type.startswith(_BATON) and not event_type.startswith(_BATON + _DEAD_LETTER + "."):
        rest = event_type[len(_BATON) :]
    elif event_type.startswith(_APISERVER):
        rest = "apiserver." + event_type[len(_APISERVER) :]
    else:
        rest = "ext." + event_type
    if not all(_TOKEN.match(token) for token in rest.split(".")):
        raise MalformedEvent(f"event type {event_type!r} cannot be a NATS subject")
    return f"{prefix}.{rest}"


def dead_letter_subject(function: str, prefix: str = "baton") -> str:
    """Where ``function``'s dead letters go."""
    return f"{prefix}.{_DEAD_LETTER}.{function}"


def connection_errors(
    logger: logging.Logger, url: str, every: float = 30.0
) -> Callable[[Exception], Awaitable[None]]:
    """An ``error_cb`` for nats-py: one line per distinct error, at most every ``every`` s.

    nats-py's own logs each failed reconnect with a full traceback, twice a second while a
    server is down; the line names the server and the error, which is all there is to say.
    """
    said: dict[str, float] = {}
    shown = re.sub(r"//[^/@]*@", "//***@", url)  # a token or password in the URL stays out

    async def error(exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        if now - said.get(text, -every) >= every:
            said[text] = now
            logger.warning("nats %s: %s (retrying)", shown, text)

    return error
