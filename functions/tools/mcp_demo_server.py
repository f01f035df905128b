"""A tiny MCP server over stdio for the samples: a note store that dedupes retried writes.

    python -m functions.tools.mcp_demo_server

``remember`` honours baton's idempotency key (``_meta["baton.dev/idempotency-key"]``): a
retried call with a key it has seen answers as before and writes nothing, which is how a
server with effects should treat baton's at-least-once delivery. Notes live in memory for
the life of the process (baton keeps one stdio server process per MCPServer).
"""

# No `from __future__ import annotations`: MCPServer reads the tools' annotations at
# runtime, and this module imports mcp at the top because it is only ever run as a server.
from typing import Final

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

__all__ = ["build", "main"]

IDEMPOTENCY_META_KEY: Final = "baton.dev/idempotency-key"


def build() -> MCPServer:
    """The demo notes server."""
    server = MCPServer("baton-notes", log_level="WARNING")
    notes: dict[str, str] = {}
    answered: dict[str, str] = {}  # idempotency key -> the answer it got

    @server.tool()
    def remember(key: str, text: str, ctx: Context) -> str:
        """Store a note under a key (replacing any earlier one)."""
        idempotency_key = str((ctx.request_context.meta or {}).get(IDEMPOTENCY_META_KEY) or "")
        if idempotency_key in answered:
            return answered[idempotency_key]
        notes[key] = text
        answer = f"remembered {key!r} ({len(notes)} notes)"
        if idempotency_key:
            answered[idempotency_key] = answer
        return answer

    @server.tool()
    def recall(key: str) -> str:
        """Read the note stored under a key."""
        if key not in notes:
            raise ToolError(f"no note named {key!r}; known: {', '.join(sorted(notes)) or 'none'}")
        return notes[key]

    @server.tool()
    def list_notes() -> list[str]:
        """The keys of every stored note."""
        return sorted(notes)

    return server


def main() -> None:
    """Serve the notes over stdio until stdin closes."""
    build().run("stdio")


if __name__ == "__main__":
    main()
