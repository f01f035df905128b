"""The live MCP connections of a process, one per MCPServer, used on the MCP loop only.

A connection is reused by every call to its server; one that failed or whose config
changed (a new Secret value, an edited spec) is replaced on next use. A call whose
idempotency key is already running or recently answered in this process is not sent again:
it shares that answer (at-least-once delivery hands one tool call to a process twice, often
at the same time); across processes the key in ``_meta`` lets the server dedupe. Failures leave
here as baton errors (``TransientError``: try again later; ``PermanentError``: the
MCPServer is misconfigured), each naming the server.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from events.errors import TransientError
from functions.tools.mcp_config import ServerConfig
from functions.tools.mcp_session import FAILURES, Connection, is_lost, map_error

__all__ = ["ConnectionPool"]

T = TypeVar("T")
RECENT_ANSWERS: Final = 256  # answers kept for redeliveries; tool output can be large
CallKey = tuple[str, str, str]  # namespace, server, idempotency key


class ConnectionPool:
    """Connections keyed by (namespace, name); every method runs on the MCP loop."""

    def __init__(self) -> None:
        self._connections: dict[tuple[str, str], Connection] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._running: dict[CallKey, asyncio.Task[Any]] = {}
        self._answered: OrderedDict[CallKey, Any] = OrderedDict()

    async def list_tools(self, config: ServerConfig) -> list[Any]:
        """The server's tools; retried once on a fresh connection (listing has no effects)."""
        try:
            return await self._use(config, "tools/list", lambda c: c.list_tools())
        except TransientError as exc:
            if not isinstance(exc.__cause__, FAILURES) or not is_lost(exc.__cause__):
                raise
            return await self._use(config, "tools/list", lambda c: c.list_tools())

    async def call_tool(
        self, config: ServerConfig, name: str, arguments: dict[str, Any], key: str
    ) -> Any:
        """One tools/call per idempotency key; never retried here (the bus retries)."""
        call_key = (config.namespace, config.name, key)
        if call_key in self._answered:
            return self._answered[call_key]
        task = self._running.get(call_key)
        if task is None:
            task = asyncio.create_task(
                self._use(config, f"tools/call {name}", lambda c: c.call_tool(name, arguments, key))
            )
            self._running[call_key] = task
            task.add_done_callback(lambda done: self._settle(call_key, done))
        # shielded: a caller that gives up must not cancel the call a duplicate is waiting on
        return await asyncio.shield(task)

    def _settle(self, call_key: CallKey, task: asyncio.Task[Any]) -> None:
        self._running.pop(call_key, None)
        if task.cancelled() or task.exception() is not None:
            return  # failures are not remembered: the retry must really try again
        self._answered[call_key] = task.result()
        while len(self._answered) > RECENT_ANSWERS:
            self._answered.popitem(last=False)

    async def _use(
        self, config: ServerConfig, doing: str, op: Callable[[Connection], Awaitable[T]]
    ) -> T:
        connection = await self._connection(config)
        try:
            return await op(connection)
        except FAILURES as exc:
            if is_lost(exc):
                connection.mark_lost()
            mapped = map_error(exc, config, doing)
            if mapped is None:
                raise
            raise mapped from exc

    async def _connection(self, config: ServerConfig) -> Connection:
        key = (config.namespace, config.name)
        async with self._locks.setdefault(key, asyncio.Lock()):
            current = self._connections.get(key)
            if current is not None and current.alive and current.config == config:
                return current
            if current is not None:
                del self._connections[key]
                self._retire(current)
            fresh = Connection(config)
            try:
                await fresh.open()
            except FAILURES as exc:
                mapped = map_error(exc, config, "connect")
                if mapped is None:
                    raise
                raise mapped from exc
            self._connections[key] = fresh
            return fresh

    def _retire(self, connection: Connection) -> None:
        """Close a replaced connection in the background: its successor need not wait."""
        task = asyncio.create_task(connection.close())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        """Close every connection (stdio servers exit)."""
        connections, self._connections = list(self._connections.values()), {}
        closing = [c.close() for c in connections] + list(self._retiring)
        await asyncio.gather(*closing, return_exceptions=True)
