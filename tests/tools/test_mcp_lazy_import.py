"""A function process that has no MCP work never pays for importing mcp."""

from __future__ import annotations

import subprocess
import sys

from tests.fakes.mcp_servers import REPO


def test_importing_the_toolbox_and_mcp_tools_does_not_import_mcp():
    """functions.tools and functions.tools.mcp load without the mcp package."""
    probe = (
        "import sys\n"
        "import functions.tools, functions.tools.mcp\n"
        "from functions.runtime.deps import build_deps\n"
        "functions.tools.mcp.MCPTools(store=None)\n"
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith(('mcp.', 'httpx2'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
