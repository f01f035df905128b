"""A real MCP stdio server with one tool whose every execution leaves a trace outside it.

``python -m tests.fakes.effect_tool --log FILE`` serves ``record_effect``: each call appends
one JSON line {idempotencyKey, pid, ppid, time, note} to FILE (``baton.dev/idempotency-key``
from the request ``_meta``; ``ppid`` is the baton process that started this server) and
returns. The chaos tests count executions per key from FILE, across every process killed.
"""

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer

__all__ = ["TOOL", "executions", "stdio_command"]

TOOL = "record_effect"
IDEMPOTENCY_META_KEY = "baton.dev/idempotency-key"


def executions(log: Path | str) -> list[dict[str, Any]]:
    """Every execution recorded in ``log``, in order (a torn last line is skipped)."""
    path = Path(log)
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # the writer was killed mid-line
    return out


def stdio_command(log: Path | str) -> tuple[str, list[str]]:
    """The (command, args) of an MCPServer resource that starts this server."""
    import sys

    return sys.executable, ["-m", "tests.fakes.effect_tool", "--log", str(log)]


def serve(log: Path) -> None:
    """Serve ``record_effect`` over stdio, appending to ``log``."""
    server = MCPServer("baton-effect-tool", log_level="WARNING")

    @server.tool(description="Record that this effect happened, and say so.")
    def record_effect(note: str, ctx: Context) -> str:
        meta = ctx.request_context.meta or {}
        line = {
            "idempotencyKey": meta.get(IDEMPOTENCY_META_KEY),
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "time": time.time(),
            "note": note,
        }
        # One write of one line in append mode: lines from several servers never interleave.
        with log.open("a") as out:
            out.write(json.dumps(line) + "\n")
        return f"recorded {note}"

    server.run("stdio")


def main() -> None:
    """Parse --log and serve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log", required=True, type=Path)
    serve(parser.parse_args().log)


if __name__ == "__main__":
    main()
