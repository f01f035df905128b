"""Which local process holds a loopback TCP connection, read from /proc (Linux).

The chaos checker excuses a repeated model call only when the process that made the
previous one was killed; the fake Messages API knows the caller's port, this finds its pid.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["pid_of_client"]


def _inodes(local_port: int, remote_port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote = fields[1].rsplit(":", 1)[1], fields[2].rsplit(":", 1)[1]
            if int(local, 16) == local_port and int(remote, 16) == remote_port:
                found.add(fields[9])
    return found


def pid_of_client(client_port: int, server_port: int, candidates: Iterable[int]) -> int | None:
    """The pid among ``candidates`` whose socket on ``client_port`` talks to ``server_port``."""
    inodes = {f"socket:[{inode}]" for inode in _inodes(client_port, server_port)}
    if not inodes:
        return None
    for pid in candidates:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if str(fd.readlink()) in inodes:
                    return pid
            except OSError:
                continue
    return None
