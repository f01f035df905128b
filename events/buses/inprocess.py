"""The in-process bus: at-least-once delivery on a thread pool, retries on a timer.

Handlers block (a model call takes seconds), so each delivery runs on its own
pool thread and a slow run never stalls another. TransientError is retried with
exponential backoff (or the error's own delay) up to ``max_attempts``; then, or
on PermanentError, the event is dead-lettered with the reason attached.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events.bus import DEAD_LETTER_MESSAGE, DEAD_LETTER_REASON, Handler, Subscription, matches
from events.delivery import RetryPolicy, Verdict, classify
from events.envelope import CloudEvent, dedupe_key
from events.errors import BatonError

__all__ = ["InProcessBus"]

_Delivery = tuple[str, Handler, BaseCloudEvent, int]

log = logging.getLogger("baton.bus")


def _dead_letter_copy(event: BaseCloudEvent, reason: str, message: str) -> CloudEvent:
    attributes = dict(event.get_attributes())
    attributes[DEAD_LETTER_REASON] = reason
    attributes[DEAD_LETTER_MESSAGE] = message[:1000]
    return CloudEvent(attributes, event.get_data())


class InProcessBus:
    """A ``Bus`` inside one process."""

    def __init__(
        self, *, workers: int = 32, retry: RetryPolicy | None = None, dedupe_window: int = 10_000
    ) -> None:
        self._subs: list[Subscription] = []
        # Subscriptions by the type they filter on (None: no type in the filter), so a
        # publish looks at the few that can match instead of every Trigger.
        self._by_type: dict[str | None, list[Subscription]] = {}
        self._dead_letter: Handler | None = None
        self._taps: list[Callable[[BaseCloudEvent], None]] = []
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="baton-bus")
        self._retry = retry or RetryPolicy()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._window = dedupe_window
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._timer_wake = threading.Condition(threading.Lock())
        self._closed = False
        self.dead_letters: list[CloudEvent] = []
        self._timer_thread = threading.Thread(
            target=self._run_timers, name="baton-bus-timer", daemon=True
        )
        self._timer_thread.start()

    def subscribe(self, subscription: Subscription) -> None:
        """Deliver matching events to the subscription's handler."""
        self._subs.append(subscription)
        self._by_type.setdefault(subscription.filter.get("type"), []).append(subscription)

    def on_dead_letter(self, handler: Handler) -> None:
        """Deliver dead-lettered events to ``handler``."""
        self._dead_letter = handler

    def tap(self, listener: Callable[[BaseCloudEvent], None]) -> None:
        """Call ``listener`` with every published event (tests, followers)."""
        self._taps.append(listener)

    def publish(self, event: CloudEvent) -> None:
        """Deliver ``event`` to matching subscriptions; a repeat (same source and id) is dropped."""
        self._route(event, keep=False)

    def _route(self, event: BaseCloudEvent, *, keep: bool) -> _Delivery | None:
        """Submit ``event``'s deliveries; with ``keep``, hand the first back to run here."""
        if self._window:
            with self._lock:
                key = dedupe_key(event)
                if key in self._seen:
                    return None
                self._seen[key] = None
                if len(self._seen) > self._window:
                    self._seen.popitem(last=False)
        for listener in self._taps:
            listener(event)
        kept: _Delivery | None = None
        for group in (self._by_type.get(event.get_type(), ()), self._by_type.get(None, ())):
            for sub in group:
                if not matches(event, sub.filter):
                    continue
                if keep and kept is None and not self._closed:
                    with self._lock:
                        self._inflight += 1
                    kept = (sub.function, sub.handler, event, 1)
                else:
                    self._submit(sub.function, sub.handler, event, 1)
        return kept

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until nothing is running or waiting to retry; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        """Stop the timer, let running handlers finish, drop scheduled retries."""
        self._closed = True
        with self._timer_wake:
            self._timer_wake.notify()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, name: str, handler: Handler, event: BaseCloudEvent, attempt: int) -> None:
        if self._closed:
            return
        with self._lock:
            self._inflight += 1
        try:
            self._pool.submit(self._deliver, name, handler, event, attempt)
        except RuntimeError:  # pool shut down while publishing
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._inflight -= 1
            if not self._inflight:
                self._idle.notify_all()

    def _deliver(self, name: str, handler: Handler, event: BaseCloudEvent, attempt: int) -> None:
        # A run's chain continues on this thread (one delivery of what the handler emitted
        # is kept here, the rest go to the pool): a thread handoff per transition costs
        # more than most transitions do, and other runs still have the other threads.
        delivery: _Delivery | None = (name, handler, event, attempt)
        while delivery is not None:
            delivery = self._deliver_one(*delivery)

    def _deliver_one(
        self, name: str, handler: Handler, event: BaseCloudEvent, attempt: int
    ) -> _Delivery | None:
        kept: _Delivery | None = None
        try:
            emitted = handler(event)
        except Exception as exc:
            verdict = classify(exc, attempt, self._retry)
            if not isinstance(exc, BatonError):  # a bug in a handler: logged with its trace
                if attempt == 1:
                    log.exception("%s failed on %s", name, event.get_id())
                else:
                    log.error(
                        "%s failed on %s again (attempt %d): %s", name, event.get_id(), attempt, exc
                    )
            if verdict.action == "dead":
                message = verdict.message
                if verdict.exhausted:
                    message = f"gave up after {attempt} attempts: {message}"
                self._dead(event, verdict.reason, message)
            else:
                self._retry_later(name, handler, event, attempt, verdict)
        else:
            for out in emitted:
                if kept is None:
                    kept = self._route(out, keep=True)
                else:
                    self._route(out, keep=False)
        finally:
            self._done()
        return kept

    def _retry_later(
        self, name: str, handler: Handler, event: BaseCloudEvent, attempt: int, verdict: Verdict
    ) -> None:
        log.info(
            "%s: %s on %s, retry %d in %.2fs",
            name,
            verdict.reason,
            event.get_id(),
            attempt + 1,
            verdict.delay,
        )
        with self._lock:
            self._inflight += 1  # a scheduled retry keeps the bus busy

        def resubmit() -> None:
            self._submit(name, handler, event, attempt + 1)
            self._done()

        self._schedule(verdict.delay, resubmit)

    def _dead(self, event: BaseCloudEvent, reason: str, message: str) -> None:
        if event.get_extension(DEAD_LETTER_REASON):
            log.error(
                "dead-letter handling of %s failed for good: %s: %s",
                event.get_id(),
                reason,
                message,
            )
            return
        copy = _dead_letter_copy(event, reason, message)
        self.dead_letters.append(copy)
        if self._dead_letter is not None:
            self._submit("dead_letter", self._dead_letter, copy, self._retry.max_attempts)

    def _schedule(self, delay: float, action: Callable[[], Any]) -> None:
        with self._timer_wake:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_seq), action))
            self._timer_wake.notify()

    def _run_timers(self) -> None:
        while not self._closed:
            with self._timer_wake:
                now = time.monotonic()
                if not self._timers:
                    self._timer_wake.wait(1.0)
                    continue
                due, _, action = self._timers[0]
                if due > now:
                    self._timer_wake.wait(due - now)
                    continue
                heapq.heappop(self._timers)
            action()
