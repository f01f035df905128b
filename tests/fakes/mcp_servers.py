"""Real MCP servers for tests, built with the ``mcp`` 2.x server API (``MCPServer``).

One tool set, two transports: ``python -m tests.fakes.mcp_servers --state DIR`` serves it
over stdio (a subprocess, as baton starts stdio servers), and ``HTTPServer(state_dir)``
serves it over streamable HTTP on a free 127.0.0.1 port in a background thread.

Every tool call appends a line to ``DIR/calls.jsonl`` (tool, arguments, the
``baton.dev/idempotency-key`` from the request ``_meta``, and the server's pid), so a test
can prove an effect happened exactly once, from outside the server process; every stdio
server started appends its pid to ``DIR/starts.jsonl`` (``starts``), so a test can count them.

Tools: ``add``, ``put_note``/``get_note`` (a key-value note store), ``fail`` (an isError
result), ``reject`` (a JSON-RPC error instead of a result), ``slow`` (sleeps), ``whoami``
(the env var and request header the server saw), ``structured`` (structured content only)
and ``crash`` (the process exits).
"""

import argparse
import asyncio
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult

__all__ = [
    "IDEMPOTENCY_META_KEY",
    "HTTPServer",
    "build_server",
    "calls",
    "starts",
    "stdio_command",
]

IDEMPOTENCY_META_KEY = "baton.dev/idempotency-key"
REPO = Path(__file__).resolve().parents[2]


def calls(state_dir: Path | str) -> list[dict[str, Any]]:
    """Every tool call the server(s) using ``state_dir`` received, in order."""
    path = Path(state_dir) / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def starts(state_dir: Path | str) -> list[int]:
    """The pid of every stdio server started over ``state_dir``, in order."""
    path = Path(state_dir) / "starts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["pid"] for line in path.read_text().splitlines() if line.strip()]


def stdio_command(state_dir: Path | str, linger: float = 0.0) -> tuple[str, list[str]]:
    """The (command, args) that start the stdio server over ``state_dir``.

    ``linger``: seconds the server lives on after its stdin closes, as a server does whose
    own work (a thread, a child) keeps it up; only a signal ends it sooner.
    """
    import sys

    args = ["-m", "tests.fakes.mcp_servers", "--state", str(state_dir)]
    return sys.executable, [*args, "--linger", str(linger)] if linger else args


def build_server(state_dir: Path | str) -> MCPServer:
    """An ``MCPServer`` with the test tool set, recording calls under ``state_dir``."""
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    notes: dict[str, str] = {}
    lock = threading.Lock()
    server = MCPServer("baton-test-tools", log_level="WARNING")

    def record(ctx: Context, tool: str, arguments: dict[str, Any]) -> None:
        meta = ctx.request_context.meta or {}
        line = {
            "tool": tool,
            "arguments": arguments,
            "idempotencyKey": meta.get(IDEMPOTENCY_META_KEY),
            "pid": os.getpid(),
        }
        with lock, (state / "calls.jsonl").open("a") as out:
            out.write(json.dumps(line) + "\n")

    @server.tool(description="Add two integers.")
    def add(a: int, b: int, ctx: Context) -> str:
        record(ctx, "add", {"a": a, "b": b})
        return str(a + b)

    @server.tool(description="Store a note under a key.")
    def put_note(key: str, text: str, ctx: Context) -> str:
        record(ctx, "put_note", {"key": key, "text": text})
        notes[key] = text
        return f"stored {key}"

    @server.tool(description="Read the note stored under a key.")
    def get_note(key: str, ctx: Context) -> str:
        record(ctx, "get_note", {"key": key})
        if key not in notes:
            raise ToolError(f"no note named {key}")
        return notes[key]

    @server.tool(description="Always fails with the given message.")
    def fail(message: str, ctx: Context) -> str:
        record(ctx, "fail", {"message": message})
        raise ToolError(message)

    @server.tool(description="Refused with a JSON-RPC error (invalid params), not isError.")
    def reject(reason: str, ctx: Context) -> str:
        record(ctx, "reject", {"reason": reason})
        raise MCPError(INVALID_PARAMS, reason)

    @server.tool(description="Sleep for some seconds, then answer.")
    async def slow(seconds: float, ctx: Context) -> str:
        record(ctx, "slow", {"seconds": seconds})
        await asyncio.sleep(seconds)
        return f"slept {seconds}s"

    @server.tool(description="The server's env var and request header of the given names.")
    def whoami(env: str, header: str, ctx: Context) -> str:
        request = ctx.request_context.request
        headers = getattr(request, "headers", None) or {}
        return json.dumps({"env": os.environ.get(env), "header": headers.get(header)})

    @server.tool(description="Structured result only.")
    def structured(ctx: Context) -> Any:
        return CallToolResult(content=[], structured_content={"answer": 42, "unit": "widgets"})

    @server.tool(description="Exit the server process at once (stdio only).")
    def crash(ctx: Context) -> str:
        record(ctx, "crash", {})
        os._exit(3)

    return server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class HTTPServer:
    """The test tool set over streamable HTTP on loopback; use as a context manager."""

    def __init__(self, state_dir: Path | str) -> None:
        self.state_dir = Path(state_dir)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "HTTPServer":
        import uvicorn

        app = build_server(self.state_dir).streamable_http_app()
        # the client holds an SSE stream open: do not wait for it on shutdown
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="critical",  # shutdown cancels the held stream, loudly
            lifespan="on",
            timeout_graceful_shutdown=0.5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-mcp-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake MCP HTTP server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def main() -> None:
    """Serve the test tool set over stdio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", required=True, help="directory for calls.jsonl")
    parser.add_argument(
        "--linger",
        type=float,
        default=0.0,
        help="seconds to live on after stdin closes (a server with work of its own left)",
    )
    args = parser.parse_args()
    server = build_server(args.state)
    with (Path(args.state) / "starts.jsonl").open("a") as out:
        out.write(json.dumps({"pid": os.getpid()}) + "\n")
    server.run("stdio")
    time.sleep(args.linger)


if __name__ == "__main__":
    main()
