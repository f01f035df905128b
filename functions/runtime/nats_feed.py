"""A ``nats`` trigger source: CloudEvents on a NATS subject, read by a durable consumer.

The subject's JetStream stream is the one that already holds it (``spec.stream`` or looked
up by subject), else one baton creates for it (``BATON_TRIGGER_<digest>``). A durable pull
consumer per trigger acks a message only after the trigger function took the event, so a
process killed mid-event gets it again; the run's name comes from the event's source and
id, so that second delivery starts no second run. Messages may be binary (``ce-`` headers)
or structured (a JSON event); a message that is no CloudEvent is terminated, logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events.codecs.nats import NATSMessage, from_nats
from events.envelope import CloudEvent
from events.errors import BatonError
from functions.trigger.matching import TRIGGER_EXTENSION, trigger_key

__all__ = ["NatsFeed", "consumer_name", "stream_for"]

log = logging.getLogger("baton.trigger.nats")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]")
_FETCH: Final = 16


def consumer_name(namespace: str, name: str) -> str:
    """The durable consumer of a trigger (NATS names allow no dots or wildcards)."""
    return _UNSAFE.sub("_", f"baton-trigger-{namespace}-{name}")[:200]


def stream_for(subject: str) -> str:
    """The stream baton creates for a subject no stream holds."""
    return "BATON_TRIGGER_" + hashlib.sha256(subject.encode()).hexdigest()[:12].upper()


class NatsFeed:
    """Consumes one trigger's subject until ``stop`` is set; hands events to ``deliver``."""

    def __init__(
        self,
        url: str,
        trigger: Mapping[str, Any],
        deliver: Callable[[BaseCloudEvent], object],
        *,
        stop: threading.Event,
        ready: threading.Event | None = None,
    ) -> None:
        meta = trigger["metadata"]
        spec = trigger["spec"]["source"]["nats"]
        self.url = url
        self.subject = str(spec["subject"])
        self.stream = spec.get("stream")
        self.key = trigger_key(str(meta["namespace"]), str(meta["name"]))
        self.durable = consumer_name(str(meta["namespace"]), str(meta["name"]))
        self.deliver = deliver
        self.stop = stop
        self.ready = ready or threading.Event()

    def run(self) -> None:
        """Consume until stopped (its own event loop, on the calling thread)."""
        asyncio.run(self._consume())

    async def _stream(self, js: Any) -> str:
        from nats.js.errors import NotFoundError

        if self.stream:
            try:
                await js.stream_info(self.stream)
                return str(self.stream)
            except NotFoundError:
                await js.add_stream(name=self.stream, subjects=[self.subject])
                return str(self.stream)
        try:
            return str(await js.find_stream_name_by_subject(self.subject))
        except NotFoundError:
            name = stream_for(self.subject)
            await js.add_stream(name=name, subjects=[self.subject])
            return name

    async def _consume(self) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        from events.buses.jetstream_config import connection_errors

        nc = await nats.connect(
            self.url, max_reconnect_attempts=-1, error_cb=connection_errors(log, self.url)
        )
        try:
            js = nc.jetstream()
            stream = await self._stream(js)
            config = ConsumerConfig(
                durable_name=self.durable,
                filter_subject=self.subject,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.NEW,
                ack_wait=30,
                max_deliver=5,
            )
            await js.add_consumer(stream, config=config)
            sub = await js.pull_subscribe_bind(self.durable, stream=stream)
            self.ready.set()
            while not self.stop.is_set():
                try:
                    messages = await sub.fetch(_FETCH, timeout=1.0)
                except TimeoutError:
                    continue  # nothing new (nats-py raises a bare TimeoutError too)
                for msg in messages:
                    await self._take(msg)
        finally:
            await nc.close()

    async def _take(self, msg: Any) -> None:
        try:
            event = from_nats(NATSMessage(dict(msg.headers or {}), bytes(msg.data)))
        except BatonError as exc:
            log.error("trigger %s: %s is not a CloudEvent: %s", self.key, msg.subject, exc)
            await msg.term()
            return
        attributes = dict(event.get_attributes())
        attributes[TRIGGER_EXTENSION] = self.key
        try:
            self.deliver(CloudEvent(attributes, event.get_data()))
        except Exception:  # the deliverer retried already; redeliver later, never lose it
            log.exception("trigger %s: event %s failed; redelivering", self.key, event.get_id())
            await msg.nak(delay=5)
            return
        await msg.ack()
