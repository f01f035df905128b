"""The Bus on NATS JetStream, for functions running as separate worker processes.

One stream (``BATON``, subjects ``baton.>``) holds every event; the subject is derived
from the type (``subject_for``). Each function is a durable pull consumer named after it,
filtered to the subjects of the types it subscribes to, so a worker killed while holding
an event loses nothing: the server redelivers it to the next one. ``Nats-Msg-Id`` is the
CloudEvent id, so the stream's duplicate window drops repeated emits. Dead letters go to
``baton.deadletter.<function>`` in the same stream and reach the handler registered with
``on_dead_letter`` through its own durable consumer.

The API is synchronous and thread-safe: the asyncio loop runs in a background thread and
calls are bridged with ``run_coroutine_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from cloudevents.core.base import BaseCloudEvent

from events.bus import Handler, Subscription
from events.buses.jetstream_config import (
    JetStreamConfig,
    connection_errors,
    dead_letter_subject,
    subject_for,
)
from events.buses.jetstream_delivery import Delivery, Settings
from events.buses.jetstream_pull import PullLoop
from events.codecs.nats import to_binary
from events.envelope import CloudEvent, dedupe_key

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

__all__ = ["JetStreamBus", "JetStreamConfig", "dead_letter_subject", "subject_for"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class JetStreamBus:
    """At-least-once delivery over JetStream durable pull consumers (see module doc)."""

    def __init__(self, config: JetStreamConfig | None = None) -> None:
        self.config = config or JetStreamConfig()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="jetstream-bus", daemon=True
        )
        self._thread.start()
        self._executor = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="handler")
        self._subscriptions: dict[str, list[Subscription]] = {}
        self._pulls: dict[str, tuple[PullLoop, asyncio.Task[None]]] = {}
        self._closed = False
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        try:
            self._call(self._connect())
        except BaseException:
            self._call(self._disconnect())
            self._stop_loop()
            raise

    def __enter__(self) -> JetStreamBus:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def subscribe(self, subscription: Subscription) -> None:
        """Deliver matching events to the handler via ``subscription.function``'s consumer."""
        self._call(self._subscribe(subscription.function, subscription, dead_letter=False))

    def on_dead_letter(self, handler: Handler) -> None:
        """Deliver every function's dead letters (with the reason extensions) to ``handler``."""
        name = self.config.dead_letter_consumer
        self._call(self._subscribe(name, Subscription(name, {}, handler), dead_letter=True))

    def publish(self, event: CloudEvent) -> None:
        """Store one event in the stream; a repeat of its id within the window is dropped."""
        self._call(self._publish(event, None))

    def close(self) -> None:
        """Stop pulling, let in-flight handlers finish and settle, then disconnect."""
        if self._closed:
            return
        self._closed = True
        try:
            self._call(self._shutdown())
        finally:
            self._stop_loop()

    # -- on the loop thread -------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        # No timeout here: every NATS request inside has its own (request_timeout), and
        # close() must wait for in-flight handlers however long they take.
        if threading.current_thread() is self._thread or not self._loop.is_running():
            coro.close()
            raise RuntimeError("JetStreamBus: closed, or called from its own event loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _connect(self) -> None:
        import nats  # heavy and only needed here

        options: dict[str, Any] = {
            "max_reconnect_attempts": -1,  # a worker outlives a server restart
            "reconnect_time_wait": 0.5,
            "reconnected_cb": self._reconnected,
            "error_cb": connection_errors(log, self.config.url),
            **self.config.connect_options,
        }
        self._nc = await nats.connect(self.config.url, **options)
        self._js = self._nc.jetstream(timeout=self.config.request_timeout)
        await self._ensure_stream()

    async def _reconnected(self) -> None:
        # Without this the loops would notice only when heartbeats stop (2 x pull_heartbeat).
        for pull, _ in self._pulls.values():
            pull.reconnected()

    async def _ensure_stream(self) -> None:
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig
        from nats.js.errors import APIError, BadRequestError

        assert self._js is not None
        cfg = self.config
        stream = StreamConfig(
            name=cfg.stream,
            subjects=[f"{cfg.prefix}.>"],
            retention=RetentionPolicy.LIMITS,  # events wait for a consumer that is not up yet
            storage=StorageType.MEMORY if cfg.storage == "memory" else StorageType.FILE,
            num_replicas=cfg.replicas,
            max_age=cfg.max_age,
            duplicate_window=cfg.duplicate_window,
        )
        try:
            await self._js.add_stream(stream)
        except BadRequestError as exc:
            if exc.err_code != 10058:  # "stream name already in use with a different configuration"
                raise
            try:
                await self._js.update_stream(stream)
            except APIError as update:
                # e.g. another worker made it with other storage: use it as it is.
                log.warning("stream %s kept as configured: %s", cfg.stream, update.description)

    async def _subscribe(self, name: str, subscription: Subscription, *, dead_letter: bool) -> None:
        subs = self._subscriptions.setdefault(name, [])
        subs.append(subscription)
        await self._ensure_consumer(name, self._filter_subjects(name, dead_letter))
        if name not in self._pulls:
            self._start_pull(name, dead_letter)

    def _filter_subjects(self, name: str, dead_letter: bool) -> list[str]:
        prefix = self.config.prefix
        if dead_letter:
            return [dead_letter_subject(">", prefix)]
        types = [s.filter.get("type") for s in self._subscriptions[name]]
        if any(t is None for t in types):
            return [f"{prefix}.>"]  # dead letters are skipped in-process (skip_prefix)
        return sorted({subject_for(str(t), prefix) for t in types})

    async def _ensure_consumer(self, name: str, subjects: list[str]) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        assert self._js is not None
        cfg = self.config
        consumer = ConsumerConfig(
            name=name,
            durable_name=name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=cfg.ack_wait,
            # Unlimited on the server: the worker counts deliveries itself so that an
            # event past max_deliver is dead-lettered, not silently dropped.
            max_deliver=-1,
            max_ack_pending=max(1000, cfg.concurrency * 4),
        )
        if len(subjects) == 1:
            consumer.filter_subject = subjects[0]
        else:
            consumer.filter_subjects = subjects
        # Create-or-update: a consumer left by an earlier run gets the current filters.
        await self._js.add_consumer(cfg.stream, consumer)

    def _start_pull(self, name: str, dead_letter: bool) -> None:
        from nats.errors import Error as NATSError

        assert self._nc is not None
        cfg = self.config
        settings = Settings(cfg.ack_wait, cfg.max_deliver, cfg.backoff_base, cfg.backoff_max)
        delivery = Delivery(
            name,
            lambda: tuple(self._subscriptions.get(name, ())),
            settings,
            self._executor,
            self._publish,
            self._publish_raw,
            None if dead_letter else dead_letter_subject(name, cfg.prefix),
            transport_errors=(TimeoutError, OSError, NATSError),
            skip_prefix=None if dead_letter else dead_letter_subject("", cfg.prefix),
        )
        pull = PullLoop(
            self._nc,
            stream=cfg.stream,
            consumer=name,
            on_message=delivery,
            max_in_flight=cfg.concurrency,
            expires=cfg.pull_expires,
            heartbeat=cfg.pull_heartbeat,
        )
        task = asyncio.create_task(pull.run(), name=f"pull-{name}")
        task.add_done_callback(_report_crash)
        self._pulls[name] = (pull, task)

    async def _publish(self, event: BaseCloudEvent, subject: str | None) -> None:
        assert self._js is not None
        message = to_binary(event)
        headers = dict(message.headers)
        # CloudEvents identity is source + id (two producers may share an id); hashed, so a
        # long source cannot make an oversized header. A dead letter is a new message about
        # the event: its own id, still deduplicated.
        identity = dedupe_key(event) if subject is None else f"{dedupe_key(event)}@{subject}"
        headers["Nats-Msg-Id"] = hashlib.sha256(identity.encode()).hexdigest()[:32]
        target = subject or subject_for(event.get_type(), self.config.prefix)
        await self._js.publish(target, message.data, headers=headers)

    async def _publish_raw(self, subject: str, headers: dict[str, str], data: bytes) -> None:
        assert self._js is not None
        await self._js.publish(subject, data, headers=headers)

    async def _shutdown(self) -> None:
        for pull, _ in self._pulls.values():
            pull.stop()
        await asyncio.gather(*(task for _, task in self._pulls.values()), return_exceptions=True)
        await self._disconnect()

    async def _disconnect(self) -> None:
        if self._nc is None or self._nc.is_closed:
            return
        if self._nc.is_connected:
            await self._nc.drain()
            return
        try:  # reconnecting: nothing to drain, and drain() would refuse
            await self._nc.close()
        except OSError as exc:  # nats-py flushes the dead socket on close; nothing was lost
            log.debug("closing a disconnected client: %r", exc)

    def _stop_loop(self) -> None:
        if self._loop.is_running():
            # nats-py leaves a task per subscription: ended here, not by the garbage
            # collector after the loop is closed ("Event loop is closed").
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(_end_tasks(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()
        self._executor.shutdown(wait=False)


async def _end_tasks() -> None:
    """Cancel every other task on this loop and wait for them to finish."""
    rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped", task.get_name(), exc_info=task.exception())
