"""MCP servers' tools for agents: list them (cached) and call them, from synchronous code.

``MCPTools`` is what ``AgentToolbox`` uses for an Agent's ``tools: [{mcpServer: name}]``.
Listings are cached per (namespace, server, resourceVersion) for ``ttl`` seconds and
filtered by ``spec.tools.allow``; calls carry the idempotency key in the request ``_meta``
(``baton.dev/idempotency-key``) so servers with effects can dedupe a retried call.
Connections are opened on first use, reused, and replaced when they fail; ``close()``
ends them (stdio servers exit). The ``mcp`` package is imported on first connection only.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from events.errors import PermanentError, TransientError
from functions.ports import NotFound, Store, ToolCall, ToolResult, ToolSpec
from functions.secrets import SecretResolver
from functions.tools.mcp_config import ServerConfig, server_config
from functions.tools.mcp_content import to_tool_result
from functions.tools.mcp_loop import LoopThread

if TYPE_CHECKING:
    from functions.tools.mcp_pool import ConnectionPool

__all__ = ["DEFAULT_TTL", "MCPTools"]

DEFAULT_TTL: Final = 60.0
T = TypeVar("T")


@dataclass
class _Entry:
    """One MCPServer as last read: its config and (once listed) its allowed tools."""

    version: str
    expires: float
    config: ServerConfig
    specs: list[ToolSpec] | None = None


class MCPTools:
    """Tool listing and calling for MCPServer resources in ``store``."""

    def __init__(
        self,
        store: Store,
        *,
        secrets: SecretResolver | None = None,
        ttl: float = DEFAULT_TTL,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._secrets = secrets
        self._environ = environ
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._loop: LoopThread | None = None
        self._pool: ConnectionPool | None = None

    def specs(self, namespace: str, server_name: str) -> list[ToolSpec]:
        """The server's tools that ``spec.tools.allow`` offers, as the model sees them."""
        entry = self._entry(namespace, server_name)
        if entry.specs is None:
            tools = self._run(entry.config, lambda pool: pool.list_tools(entry.config))
            entry.specs = [
                ToolSpec(tool.name, tool.description or "", dict(tool.input_schema))
                for tool in tools
                if entry.config.offers(tool.name)
            ]
        return list(entry.specs)

    def call(
        self, namespace: str, server_name: str, call: ToolCall, idempotency_key: str
    ) -> ToolResult:
        """Run one tool call; server-side tool errors come back as ``is_error`` results."""
        config = self._entry(namespace, server_name).config
        if not config.offers(call.name):
            return ToolResult(f"tool {call.name} is not offered by {config.label}", is_error=True)
        arguments = dict(call.input)
        result = self._run(
            config, lambda pool: pool.call_tool(config, call.name, arguments, idempotency_key)
        )
        return to_tool_result(result)

    def close(self) -> None:
        """End every session (stdio servers exit) and stop the MCP loop; a later use restarts."""
        with self._lock:
            loop, pool = self._loop, self._pool
            self._loop = self._pool = None
        if loop is None or pool is None:
            return
        atexit.unregister(self.close)
        try:
            loop.run(pool.close(), timeout=30)
        finally:
            loop.close()

    def _entry(self, namespace: str, name: str) -> _Entry:
        try:
            resource = self._store.get("MCPServer", namespace, name)
        except NotFound:
            raise PermanentError(
                f"MCPServer {namespace}/{name} not found", reason="MCPServerNotFound"
            ) from None
        version = str(resource["metadata"].get("resourceVersion", ""))
        now = self._clock()
        with self._lock:
            entry = self._entries.get((namespace, name))
            if entry is not None and entry.version == version and entry.expires > now:
                return entry
        entry = _Entry(
            version, now + self._ttl, server_config(resource, self._secrets, self._environ)
        )
        with self._lock:
            self._entries[(namespace, name)] = entry
        return entry

    def _started(self) -> tuple[LoopThread, ConnectionPool]:
        with self._lock:
            if self._loop is None or self._pool is None:
                from functions.tools.mcp_pool import ConnectionPool

                self._loop, self._pool = LoopThread(), ConnectionPool()
                # a process that never calls close() still stops its stdio servers
                atexit.register(self.close)
            return self._loop, self._pool

    def _run(
        self, config: ServerConfig, work: Callable[[ConnectionPool], Coroutine[Any, Any, T]]
    ) -> T:
        loop, pool = self._started()
        # The inner timeouts (connect, then the call) fire first; this one guards the bridge.
        guard = config.connect_timeout + config.timeout + 15
        try:
            return loop.run(work(pool), timeout=guard)
        except TimeoutError:
            raise TransientError(
                f"{config.label}: no answer within {guard:g}s", reason="MCPTimeout"
            ) from None
        except concurrent.futures.CancelledError:
            # close() ran meanwhile (the process is stopping): another delivery will do it
            raise TransientError(
                f"{config.label}: MCP client closed during the call", reason="MCPServerUnavailable"
            ) from None
