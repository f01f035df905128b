"""A JetStream pull loop that keeps pull requests outstanding and never abandons one.

Why not ``PullSubscription.fetch()`` (nats-py 2.16): each ``fetch`` sends pull requests
whose ``expires`` about equals its own client-side timeout and gives up on them when
that timeout fires, so the server can hold requests the client has forgotten (orphans)
and statuses meant for one fetch land in the next (all fetches share one inbox). The
batch path also waits "for the rest" of a batch until its request ends, and the server
keeps a plain lingering request open after a partial delivery until it expires (seen on
nats-server 2.15: one message at 1 s, then 408 ``Nats-Pending-Messages: 9`` at 5 s):
a message delivered to such a request, or to an orphan of it, is held for the rest of
its window: the 1-5 s stall DESIGN.md reports. ``python -m tests.nats.stall_probe
orphan`` shows it deterministically (``fetch(10)`` beside one orphaned request: 3.5 s;
``fetch(1)``: 2 ms); in plain idle loops it needs a stale-status race and comes and goes.
The probe also catches the other fault every few minutes: a bare ``asyncio.TimeoutError``
(not ``nats.errors.TimeoutError``) when the window runs out between fetch's two
requests, which kills a loop that catches only the latter.

This loop does what nats.go's ``Consume()`` does instead: one inbox subscription that
lives as long as the loop, pull requests sent with ``expires`` *and* ``idle_heartbeat``,
and an account of how many messages the server still owes (``owed``). A request is
forgotten only when the server says it is over (a 408/409 status carrying
``Nats-Pending-Messages``) or when its heartbeats stop (the server lost it: restart,
reconnect). Every message is handed on the moment it arrives, whichever request it
answers, so nothing waits for a batch to fill or a request to expire; no client-side
timer races the server's expiry, so there is no TimeoutError to mishandle.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

__all__ = ["PullLoop"]

log = logging.getLogger(__name__)

_STATUS: Final = "Status"
_HEARTBEAT: Final = "100"
_PENDING_MESSAGES: Final = "Nats-Pending-Messages"
_NS: Final = 1_000_000_000


class PullLoop:
    """Pulls messages of one durable consumer and runs ``on_message`` for each, at most
    ``max_in_flight`` at a time."""

    def __init__(
        self,
        nc: Client,
        *,
        stream: str,
        consumer: str,
        on_message: Callable[[Msg], Awaitable[None]],
        max_in_flight: int,
        expires: float,
        heartbeat: float,
        api_prefix: str = "$JS.API",
    ) -> None:
        self._nc = nc
        self._next_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._consumer = consumer
        self._on_message = on_message
        self._max_in_flight = max_in_flight
        self._expires = expires
        self._heartbeat = heartbeat
        self._queue: asyncio.Queue[Msg | None] = asyncio.Queue()
        self._in_hand = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._lost = False

    async def run(self) -> None:
        """Pull until ``stop()``; then settle what arrived late and wait for in-flight work."""
        inbox = self._nc.new_inbox()
        sub = await self._nc.subscribe(inbox, cb=self._arrived)
        owed = 0
        try:
            while not self._stopping:
                want = self._max_in_flight - owed - self._in_hand
                if want > 0:
                    await self._request(inbox, want)
                    owed += want
                try:
                    # Heartbeats come every ``heartbeat`` s while a request is open and
                    # idle; two missed ones mean the server no longer has our requests.
                    msg = await asyncio.wait_for(self._queue.get(), self._heartbeat * 2 + 0.5)
                except TimeoutError:
                    owed = 0
                    continue
                if msg is None:  # a slot was freed, the connection came back, or stop()
                    if self._lost:
                        self._lost, owed = False, 0
                    continue
                status = msg.headers.get(_STATUS) if msg.headers else None
                if status is None:
                    owed = max(owed - 1, 0)
                    self._start(msg)
                elif status != _HEARTBEAT:
                    owed = max(owed - _still_owed(msg), 0)
                    if status not in ("404", "408"):
                        # e.g. 409 Consumer Deleted / Exceeded MaxWaiting: do not spin on it.
                        log.warning("pull %s: %s %s", self._consumer, status, _describe(msg))
                        await asyncio.sleep(min(1.0, self._heartbeat))
        finally:
            # The server drops open requests whose inbox lost interest; a message that
            # was already on its way is handed back at once rather than after ack_wait.
            await sub.unsubscribe()
            await self._hand_back_late()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def stop(self) -> None:
        """Ask the loop to finish; ``run()`` returns once in-flight handlers are done."""
        self._stopping = True
        self._queue.put_nowait(None)

    def reconnected(self) -> None:
        """The connection was re-established: requests sent before are gone, ask again."""
        self._lost = True
        self._queue.put_nowait(None)

    async def _arrived(self, msg: Msg) -> None:
        self._queue.put_nowait(msg)

    async def _request(self, inbox: str, batch: int) -> None:
        request = {
            "batch": batch,
            "expires": int(self._expires * _NS),
            "idle_heartbeat": int(self._heartbeat * _NS),
        }
        await self._nc.publish(self._next_subject, json.dumps(request).encode(), reply=inbox)

    def _start(self, msg: Msg) -> None:
        self._in_hand += 1
        task = asyncio.create_task(self._run_one(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_one(self, msg: Msg) -> None:
        try:
            await self._on_message(msg)
        except Exception:  # one message must not end the loop; logged with its traceback
            log.exception("pull %s: message on %s not handled", self._consumer, msg.subject)
        finally:
            self._in_hand -= 1
            self._queue.put_nowait(None)

    async def _hand_back_late(self) -> None:
        while not self._queue.empty():
            msg = self._queue.get_nowait()
            if msg is not None and not (msg.headers and msg.headers.get(_STATUS)):
                await msg.nak()


def _still_owed(msg: Msg) -> int:
    """How many messages a finished request will no longer deliver (all, if unsaid)."""
    headers = msg.headers or {}
    try:
        return int(headers[_PENDING_MESSAGES])
    except (KeyError, ValueError):
        return 1 << 30


def _describe(msg: Msg) -> str:
    return (msg.headers or {}).get("Description", "")
