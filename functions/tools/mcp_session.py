"""One live MCP client session per server, owned by a task on the MCP loop.

anyio wants a transport and a ``ClientSession`` entered and left by the same task, so a
connection's owner task opens both, initializes, and holds them until ``close()``; callers
on other tasks send requests through the session (JSON-RPC multiplexes them). The errors
of the mcp client and its transports are mapped here, once, to baton's taxonomy.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any, Final

import anyio
import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.stdio import get_default_environment
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    REQUEST_TIMEOUT,
    CallToolResult,
    Implementation,
    PaginatedRequestParams,
    RequestParamsMeta,
    TextContent,
    Tool,
)

from events.errors import BatonError, PermanentError, TransientError
from functions.tools.mcp_child import guarded
from functions.tools.mcp_config import ServerConfig

__all__ = ["FAILURES", "IDEMPOTENCY_META_KEY", "Connection", "is_lost", "map_error"]

IDEMPOTENCY_META_KEY: Final = "baton.dev/idempotency-key"
CLIENT_INFO: Final = Implementation(name="baton", version="0.1.0")
_UNAVAILABLE: Final = "MCPServerUnavailable"
# JSON-RPC errors that mean the session (not the request) is gone: reconnect next time.
_LOST_CODES: Final = frozenset({CONNECTION_CLOSED, INVALID_REQUEST, INTERNAL_ERROR})
log = logging.getLogger("baton.mcp")

FAILURES: Final[tuple[type[BaseException], ...]] = (
    MCPError,
    OSError,
    TimeoutError,
    httpx2.TransportError,
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
    BaseExceptionGroup,
)
"""What the mcp client and its transports raise when a server is unusable; see ``map_error``."""


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _cause(exc: BaseException) -> BaseException:
    """The informative exception inside anyio's task-group wrapping."""
    leaves = _leaves(exc)
    return next((e for e in leaves if not isinstance(e, asyncio.CancelledError)), leaves[0])


def is_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the session is unusable and must be reopened."""
    cause = _cause(exc)
    if isinstance(cause, MCPError):
        return cause.code in _LOST_CODES
    return isinstance(
        cause,
        OSError
        | httpx2.TransportError
        | anyio.ClosedResourceError
        | anyio.BrokenResourceError
        | anyio.EndOfStream,
    )


def map_error(exc: BaseException, config: ServerConfig, doing: str) -> BatonError | None:
    """The baton error for a failure of the mcp client, or None when it is not one of ours."""
    cause, label = _cause(exc), config.label
    if isinstance(cause, FileNotFoundError | PermissionError | NotADirectoryError):
        return PermanentError(
            f"{label}: cannot start {config.command!r}: {cause.strerror}", reason="InvalidMCPServer"
        )
    if isinstance(cause, TimeoutError) or (
        isinstance(cause, MCPError) and cause.code == REQUEST_TIMEOUT
    ):
        seconds = config.connect_timeout if doing == "connect" else config.timeout
        return TransientError(f"{label}: {doing} timed out after {seconds:g}s", reason="MCPTimeout")
    if isinstance(cause, MCPError) and cause.code == METHOD_NOT_FOUND and doing == "connect":
        return PermanentError(
            f"{label}: {config.url or config.command} is not an MCP endpoint ({cause.message})",
            reason="InvalidMCPServer",
        )
    if isinstance(cause, MCPError) and cause.code in _LOST_CODES:
        return TransientError(f"{label}: {doing} failed: {cause.message}", reason=_UNAVAILABLE)
    if is_lost(cause):
        # The exception text names the endpoint at most; headers and env never reach it.
        return TransientError(
            f"{label}: unreachable during {doing}: {type(cause).__name__}: {cause}",
            reason=_UNAVAILABLE,
        )
    return None


def _error_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def _executable(command: str, env: dict[str, str]) -> str:
    """The path the server starts from, checked here so a typo stays a spawn error."""
    found = shutil.which(command, path=env.get("PATH", os.defpath))
    if found is not None:
        return found
    if os.sep in command and os.path.exists(command):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), command)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), command)


def _stdio_parameters(config: ServerConfig) -> StdioServerParameters:
    """The spawn of a stdio server, under ``mcp_child``'s guard: it dies with this process."""
    env = dict(config.env)
    command = _executable(config.command, get_default_environment() | env)
    command, args = guarded(command, list(config.args))
    return StdioServerParameters(command=command, args=args, env=env or None)


@contextlib.asynccontextmanager
async def _transport(config: ServerConfig) -> AsyncIterator[Any]:
    if config.transport == "stdio":
        async with stdio_client(_stdio_parameters(config)) as streams:
            yield streams
        return
    async with (
        create_mcp_http_client(headers=dict(config.headers)) as http,
        streamable_http_client(config.url, http_client=http) as streams,
    ):
        yield streams


class Connection:
    """An initialized session with one server; ``alive`` until it fails or is closed.

    ``config`` is the one that opened it; MCPServers with the same ``spec_key`` share the
    session, so a call passes its own config for the timeout and the name in its messages.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._session: ClientSession | None = None
        self._closing = asyncio.Event()
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._owner: asyncio.Task[None] | None = None
        self._lost = False

    @property
    def alive(self) -> bool:
        """Whether requests may still go through this session."""
        return not self._lost and self._owner is not None and not self._owner.done()

    def mark_lost(self) -> None:
        """Stop handing this session out (a request saw the connection drop)."""
        self._lost = True

    async def open(self) -> None:
        """Start the server (stdio) or connect (http) and initialize, within the timeout."""
        self._owner = asyncio.create_task(self._own(), name=f"mcp {self.config.label}")
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), self.config.connect_timeout)
        except BaseException:
            await self.close()
            raise

    async def _own(self) -> None:
        try:
            async with (
                _transport(self.config) as (read, write),
                ClientSession(read, write, client_info=CLIENT_INFO) as session,
            ):
                await session.initialize()
                self._session = session
                self._ready.set_result(None)
                await self._closing.wait()
        except Exception as exc:  # handed to the opener, or logged: the owner has no caller
            if not self._ready.done():
                self._ready.set_exception(exc)
            elif not self._closing.is_set():
                log.warning("%s: session ended: %s", self.config.label, type(_cause(exc)).__name__)
        finally:
            self._lost = True
            if not self._ready.done():
                self._ready.cancel()

    def _live(self) -> ClientSession:
        if self._session is None or not self.alive:
            raise MCPError(CONNECTION_CLOSED, "Connection closed")
        return self._session

    async def list_tools(self) -> list[Tool]:
        """Every tool the server offers (all pages)."""
        session, cursor = self._live(), None
        tools: list[Tool] = []
        while True:
            params = None if cursor is None else PaginatedRequestParams(cursor=cursor)
            page = await session.list_tools(params=params)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], key: str, config: ServerConfig | None = None
    ) -> CallToolResult:
        """One tools/call with the idempotency key in ``_meta``, bounded by the timeout."""
        config = config or self.config
        meta: RequestParamsMeta = {IDEMPOTENCY_META_KEY: key}  # type: ignore[typeddict-unknown-key]
        try:
            result: CallToolResult = await self._live().call_tool(
                name, arguments, read_timeout_seconds=config.timeout, meta=meta
            )
        except MCPError as exc:
            if exc.code in _LOST_CODES or exc.code == REQUEST_TIMEOUT:
                raise
            # the server refused this call (unknown tool, bad arguments): the model can correct it
            return _error_result(f"{config.label} refused {name}: {exc.message}")
        except RuntimeError as exc:
            # the server answered, but unusably (off its output schema, asked for input)
            log.warning("%s: unusable answer from %s: %s", config.label, name, exc)
            return _error_result(f"{config.label}: unusable answer from {name}: {exc}")
        return result

    async def close(self) -> None:
        """Leave the session and stop the server process (stdio) or end the HTTP session."""
        self._lost = True
        self._closing.set()
        owner = self._owner
        if owner is None or owner.done():
            return
        if not self._ready.done():
            owner.cancel()  # still connecting: nothing to leave politely
        try:
            # stdio shutdown is bounded inside the client (close stdin, wait, kill)
            await asyncio.wait_for(asyncio.shield(owner), 10)
        except TimeoutError:
            owner.cancel()
        except asyncio.CancelledError:
            if not owner.cancelled():
                raise
