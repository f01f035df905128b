"""Start a stdio MCP server that dies with the baton process that started it, even on SIGKILL.

The mcp client spawns a stdio server in a session of its own and stops it when the session
closes; a baton process that is SIGKILLed (the OOM killer, ``kubectl delete --force``, a
crashing worker) gets no chance to, and its servers used to live on as orphans. So on Linux
baton spawns this file first: it asks the kernel to SIGKILL it when its parent dies
(``prctl(PR_SET_PDEATHSIG)``, kept across ``execve``), checks that the parent is still the
one that spawned it (it may have died in between), and execs the server in its place. The
server keeps this pid, its pipes and its process group, and costs nothing more once it runs.
The server's own children are not signalled; they see their stdin close with the parent.

The signal follows the thread that spawned the child: baton spawns from its MCP loop thread,
which lives exactly as long as the sessions it owns.

    python -I -S mcp_child.py PARENT_PID COMMAND [ARG...]

Runs on the standard library alone (it starts before anything is imported).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Final, NoReturn

__all__ = ["guarded", "supported"]

PR_SET_PDEATHSIG: Final = 1
SCRIPT: Final = os.path.abspath(__file__)


def supported() -> bool:
    """Whether the kernel can tie a child's life to its parent's (Linux)."""
    return sys.platform.startswith("linux")


def guarded(command: str, args: list[str]) -> tuple[str, list[str]]:
    """The (command, args) that run ``command`` under this guard, for this process as parent."""
    if not supported():
        return command, args
    return sys.executable, ["-I", "-S", SCRIPT, str(os.getpid()), command, *args]


def main(argv: list[str]) -> NoReturn:
    """Arrange to die with the parent, then become the server."""
    parent, command, args = int(argv[1]), argv[2], argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        sys.exit(f"mcp_child: prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}")
    if os.getppid() != parent:  # the parent died before the signal was armed
        sys.exit(1)
    try:
        os.execvp(command, args)
    except OSError as exc:
        sys.exit(f"mcp_child: cannot start {command!r}: {exc.strerror}")


if __name__ == "__main__":
    main(sys.argv)
