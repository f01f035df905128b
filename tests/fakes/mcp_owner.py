"""A baton process that owns stdio MCP servers and then waits to be killed.

``python -m tests.fakes.mcp_owner STATE_DIR [STATE_DIR...]`` starts one stdio test server per
state dir through ``MCPTools`` (a call to ``add`` on each), prints ``ready`` and sleeps; the
test SIGKILLs it and checks that no server outlives it. The servers linger for minutes after
their stdin closes, so only their death signal ends them in time.
"""

import sys
import tempfile
import time
from pathlib import Path

from functions.ports import API_VERSION, ToolCall
from functions.resources.sqlite import SqliteStore
from functions.tools.mcp import MCPTools
from tests.fakes.mcp_servers import REPO, stdio_command


def main() -> None:
    """Start a server per state dir, say so, and wait."""
    store = SqliteStore(str(Path(tempfile.mkdtemp()) / "state.db"))
    tools = MCPTools(store, environ={})
    for i, state in enumerate(sys.argv[1:]):
        command, args = stdio_command(state, linger=300)
        spec = {
            "transport": "stdio",
            "command": command,
            "args": args,
            "env": [{"name": "PYTHONPATH", "value": str(REPO)}],
        }
        meta = {"name": f"owned-{i}", "namespace": "default"}
        store.create(
            {"apiVersion": API_VERSION, "kind": "MCPServer", "metadata": meta, "spec": spec}
        )
        tools.call("default", f"owned-{i}", ToolCall("t", "add", {"a": i, "b": 1}), f"k{i}")
    print("ready", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
