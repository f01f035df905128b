"""The live MCP connections of a process, one per server spec, used on the MCP loop only.

One connection (one stdio server process) per ``ServerConfig.spec_key``: every MCPServer
with that spec in the namespace shares it, and a burst of first callers waits for the one
start under the key's lock instead of each starting a server. A connection that failed is
replaced on next use; one whose MCPServer changed (a new Secret value, an edited spec) is
closed once no MCPServer uses its spec any more.

A call whose idempotency key is already running or recently answered in this process is not
sent again: it shares that answer (at-least-once delivery hands one tool call to a process
twice, often at the same time); across processes the key in ``_meta`` lets the server dedupe.
Failures leave here as baton errors (``TransientError``: try again later; ``PermanentError``:
the MCPServer is misconfigured), each naming the server.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, TypeVar

from events.errors import TransientError
from functions.tools.mcp_config import ServerConfig
from functions.tools.mcp_session import FAILURES, Connection, is_lost, map_error

__all__ = ["ConnectionPool"]

T = TypeVar("T")
RECENT_ANSWERS: Final = 256  # answers kept for redeliveries; tool output can be large
WorkKey = tuple[str, ...]  # ("list", namespace, server) or ("call", namespace, server, key)


class ConnectionPool:
    """Connections keyed by server spec; every method runs on the MCP loop."""

    def __init__(self) -> None:
        self._connections: dict[str, Connection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._spec_of: dict[tuple[str, str], str] = {}  # (namespace, name) -> spec_key in use
        self._retiring: set[asyncio.Task[None]] = set()
        self._running: dict[WorkKey, asyncio.Task[Any]] = {}
        self._answered: OrderedDict[WorkKey, Any] = OrderedDict()

    async def list_tools(self, config: ServerConfig) -> list[Any]:
        """The server's tools; a burst of callers (a cold start) shares one listing."""
        key = ("list", config.namespace, config.name)
        return await self._once(key, lambda: self._list_tools(config), remember=False)

    async def call_tool(
        self, config: ServerConfig, name: str, arguments: dict[str, Any], key: str
    ) -> Any:
        """One tools/call per idempotency key; never retried here (the bus retries)."""
        work = ("call", config.namespace, config.name, key)
        return await self._once(
            work,
            lambda: self._use(
                config, f"tools/call {name}", lambda c: c.call_tool(name, arguments, key, config)
            ),
            remember=True,
        )

    async def _list_tools(self, config: ServerConfig) -> list[Any]:
        try:
            return await self._use(config, "tools/list", lambda c: c.list_tools())
        except TransientError as exc:
            if not isinstance(exc.__cause__, FAILURES) or not is_lost(exc.__cause__):
                raise
            # listing has no effects: once more on a fresh connection (a stdio server died idle)
            return await self._use(config, "tools/list", lambda c: c.list_tools())

    async def _once(
        self, key: WorkKey, start: Callable[[], Coroutine[Any, Any, T]], *, remember: bool
    ) -> T:
        """Run ``start()`` once for every caller with ``key`` in flight (or recently answered)."""
        if key in self._answered:
            answer: T = self._answered[key]
            return answer
        task = self._running.get(key)
        if task is None:
            task = asyncio.create_task(start())
            self._running[key] = task
            task.add_done_callback(lambda done: self._settle(key, done, remember))
        # shielded: a caller that gives up must not cancel work another caller waits on
        result: T = await asyncio.shield(task)
        return result

    def _settle(self, key: WorkKey, task: asyncio.Task[Any], remember: bool) -> None:
        self._running.pop(key, None)
        if task.cancelled() or task.exception() is not None or not remember:
            return  # failures are not remembered: the retry must really try again
        self._answered[key] = task.result()
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
        key = config.spec_key
        self._follow(config)
        async with self._locks.setdefault(key, asyncio.Lock()):
            current = self._connections.get(key)
            if current is not None and current.alive:
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

    def _follow(self, config: ServerConfig) -> None:
        """Note the spec an MCPServer uses now; close the one it left if nobody else uses it."""
        server, key = (config.namespace, config.name), config.spec_key
        previous = self._spec_of.get(server)
        self._spec_of[server] = key
        if previous is None or previous == key or previous in self._spec_of.values():
            return
        stale = self._connections.pop(previous, None)
        if stale is not None:
            self._retire(stale)

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
