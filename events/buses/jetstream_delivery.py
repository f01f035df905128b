"""What happens to one JetStream message: decode, run the handlers, settle it.

Settling follows the error taxonomy (events/errors.py) once: success publishes the
returned events and *then* acks (a crash in between redelivers, and the transitions are
idempotent); ``TransientError`` naks with a delay; ``PermanentError``, a malformed event
and a message past ``max_deliver`` are published to the dead-letter subject with the
reason and terminated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.v1.event import CloudEvent

from events.bus import DEAD_LETTER_MESSAGE, DEAD_LETTER_REASON, Handler, Subscription, matches
from events.codecs.nats import NATSMessage, from_nats
from events.datacheck import check_data
from events.delivery import RetryPolicy, classify
from events.errors import BatonError, MalformedEvent
from events.types import ALL_TYPES

if TYPE_CHECKING:
    from nats.aio.msg import Msg

__all__ = ["Delivery", "Settings", "with_reason"]

log = logging.getLogger(__name__)

Publish = Callable[[BaseCloudEvent, str | None], Awaitable[None]]
PublishRaw = Callable[[str, dict[str, str], bytes], Awaitable[None]]


@dataclass(frozen=True)
class Settings:
    """The delivery knobs of JetStreamConfig that one consumer needs."""

    ack_wait: float
    max_deliver: int
    backoff_base: float
    backoff_max: float


def with_reason(event: BaseCloudEvent, reason: str, message: str) -> CloudEvent:
    """A copy of ``event`` carrying the dead-letter reason extensions."""
    attributes = dict(event.get_attributes())
    attributes[DEAD_LETTER_REASON] = reason
    attributes[DEAD_LETTER_MESSAGE] = message
    return CloudEvent(attributes, event.get_data())


class Delivery:
    """Runs one function's handlers for the messages of its durable consumer."""

    def __init__(
        self,
        function: str,
        subscriptions: Callable[[], Sequence[Subscription]],
        settings: Settings,
        executor: Executor,
        publish: Publish,
        publish_raw: PublishRaw,
        dead_letter_subject: str | None,
        *,
        transport_errors: tuple[type[BaseException], ...] = (TimeoutError, OSError),
        skip_prefix: str | None = None,
    ) -> None:
        self._function = function
        self._subscriptions = subscriptions
        self._settings = settings
        self._executor = executor
        self._publish = publish
        self._publish_raw = publish_raw
        self._dead_letter_subject = dead_letter_subject
        self._skip_prefix = skip_prefix
        self._transport_errors = transport_errors
        self._policy = RetryPolicy(
            max_attempts=settings.max_deliver, base=settings.backoff_base, cap=settings.backoff_max
        )

    async def __call__(self, msg: Msg) -> None:
        """Handle one message and settle it; heartbeats keep it ours while that runs."""
        keep_alive = asyncio.create_task(self._keep_alive(msg))
        traced = log.isEnabledFor(logging.DEBUG)
        if traced:  # what a chaos timeline reads: who took which event, which delivery
            ident = (msg.headers or {}).get("ce-id", msg.subject)
            log.debug(
                "%s: took %s (delivery %d)", self._function, ident, msg.metadata.num_delivered
            )
        try:
            await self._handle(msg)
        except self._transport_errors as exc:
            # Unsettled: the server redelivers it after ack_wait, to us or another worker.
            log.warning("%s: could not settle %s: %r", self._function, msg.subject, exc)
        finally:
            keep_alive.cancel()
            if traced:
                log.debug("%s: settled %s", self._function, ident)

    async def _keep_alive(self, msg: Msg) -> None:
        # A model call can outlast ack_wait; +WPI resets the server's redelivery timer.
        try:
            while True:
                await asyncio.sleep(self._settings.ack_wait / 2)
                await msg.in_progress()
        except self._transport_errors as exc:
            log.warning("%s: in-progress heartbeat failed: %r", self._function, exc)

    async def _handle(self, msg: Msg) -> None:
        if self._skip_prefix and msg.subject.startswith(self._skip_prefix):
            await msg.ack()  # a dead letter seen by a type-less filter is not an event
            return
        try:
            event = from_nats(NATSMessage(dict(msg.headers or {}), msg.data))
        except MalformedEvent as exc:
            await self._dead_letter_raw(msg, exc)
            return
        if event.get_type() in ALL_TYPES:
            # Data from the wire meets the published schema before any handler sees it.
            try:
                check_data(event.get_type(), event.get_data())
            except MalformedEvent as exc:
                await self._dead_letter(msg, event, exc.reason, exc.message)
                return
        delivered = msg.metadata.num_delivered
        if delivered > self._settings.max_deliver:
            # Only a worker that died holding it (e.g. the event crashes the process)
            # gets here: every handled failure settles on the last delivery below.
            text = f"{self._function}: not settled after {delivered - 1} deliveries"
            await self._dead_letter(msg, event, "MaxDeliveriesExceeded", text)
            return
        handlers = [s.handler for s in self._subscriptions() if matches(event, s.filter)]
        if not handlers:
            await msg.ack()  # a filter on extensions said no, as a Trigger would
            return
        try:
            emitted = await self._run(handlers, event)
        except Exception as exc:
            if not isinstance(exc, BatonError):  # a bug in a handler: logged with its trace
                log.exception("%s: handler failed on %s", self._function, event.get_id())
            verdict = classify(exc, delivered, self._policy)
            if verdict.action == "dead" and verdict.exhausted:
                cause = f"{verdict.reason}: {verdict.message}"
                text = f"{self._function}: gave up after {delivered} deliveries: {cause}"
                await self._dead_letter(msg, event, "MaxDeliveriesExceeded", text)
            elif verdict.action == "dead":
                await self._dead_letter(msg, event, verdict.reason, verdict.message)
            else:
                await msg.nak(delay=verdict.delay)
            return
        try:
            for out in emitted:
                await self._publish(out, None)
        except self._transport_errors as exc:
            # Not acked: redelivery runs the (idempotent) handler again and re-emits;
            # repeats of what did get out are dropped by Nats-Msg-Id.
            log.warning("%s: publish after %s failed: %s", self._function, event.get_id(), exc)
            await msg.nak(delay=self._backoff(delivered))
            return
        await msg.ack()

    async def _run(self, handlers: list[Handler], event: BaseCloudEvent) -> list[BaseCloudEvent]:
        loop = asyncio.get_running_loop()
        emitted: list[BaseCloudEvent] = []
        for handler in handlers:
            # Handlers are synchronous and may block for seconds in a model call: they
            # run on the worker's bounded pool, never on the event loop.
            emitted += await loop.run_in_executor(self._executor, handler, event)
        return emitted

    def _backoff(self, delivered: int) -> float:
        return self._policy.delay(delivered, None)

    async def _dead_letter(
        self, msg: Msg, event: BaseCloudEvent, reason: str, message: str
    ) -> None:
        if self._dead_letter_subject is None:  # the dead-letter handler itself failed
            log.error("%s: dropping %s: %s: %s", self._function, event.get_id(), reason, message)
        else:
            log.warning(
                "%s: dead-lettering %s: %s: %s", self._function, event.get_id(), reason, message
            )
            await self._publish(with_reason(event, reason, message), self._dead_letter_subject)
        await msg.term()

    async def _dead_letter_raw(self, msg: Msg, exc: MalformedEvent) -> None:
        # Not a CloudEvent, so it cannot carry extensions: keep the bytes for a person
        # to look at, with the reason in plain headers.
        log.warning("%s: malformed message on %s: %s", self._function, msg.subject, exc.message)
        if self._dead_letter_subject is not None:
            headers = dict(msg.headers or {})
            headers.pop("Nats-Msg-Id", None)  # else the stream drops it as a duplicate
            headers["Baton-Error"] = exc.reason
            headers["Baton-Error-Message"] = exc.message
            await self._publish_raw(self._dead_letter_subject, headers, msg.data)
        await msg.term()
