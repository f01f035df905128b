"""A WSGI app under baton's gunicorn settings on a free loopback port, for memory figures.

``served(app, env, cwd)`` starts ``gunicorn -c python:functions.serve.gunicorn_conf APP``
(gthread, one worker, preload off: the app is built in the worker) and yields the port
and the worker's process id once the worker answers HTTP, so the app is loaded.
``post_all`` sends CloudEvents one at a time on one keep-alive connection.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from bench.harness import ROOT

__all__ = ["CONF", "ECHO_APP", "FUNCTION_APP", "gunicorn_worker", "post_all", "served"]

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
CONF = "python:functions.serve.gunicorn_conf"
FUNCTION_APP = "functions.serve.app:from_env()"
ECHO_APP = "tests.bench.http_bench:echo_app()"  # the bare floor http_bench measures against
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gunicorn_worker(master: int) -> int | None:
    """The process id of the (single) worker whose parent is ``master``, if it was forked."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        if int(stat.rsplit(")", 1)[1].split()[1]) == master:
            return int(entry.name)
    return None


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz")
        conn.getresponse().read()  # any status: the worker built the app and answered
        conn.close()
        return True
    except OSError:
        return False


@contextmanager
def served(app: str, env: Mapping[str, str], cwd: str) -> Iterator[tuple[int, int]]:
    """gunicorn serving ``app``; yields (port, worker pid) once the worker answers."""
    port = _free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in ("K_SINK", "BATON_FUNCTION")}
    full_env.update(PORT=str(port), BATON_BIND_HOST="127.0.0.1", PYTHONPATH=str(ROOT), **env)
    process = subprocess.Popen(
        [GUNICORN, "-c", CONF, app],
        env=full_env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(port):
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn {app} exited {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {app} not answering after {START_TIMEOUT:.0f} s")
            time.sleep(0.02)
        worker = gunicorn_worker(process.pid)
        if worker is None:
            raise RuntimeError(f"gunicorn {app} answered but has no worker process")
        yield port, worker
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def post_all(port: int, requests: list[tuple[bytes, dict[str, str]]]) -> int:
    """POST each (body, headers) in turn on one connection; how many got a 2xx."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    ok = 0
    for body, headers in requests:
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        ok += 200 <= response.status < 300
    conn.close()
    return ok
