"""Benchmark: one baton function over HTTP under gunicorn, beside a bare Flask CloudEvents echo.

Not collected by pytest (no time is asserted anywhere); ``bench.external`` calls
``bench_http(quick=...)``, or run it alone: ``.venv/bin/python -m tests.bench.http_bench``.

Function: ``validate`` accepting fresh AgentRuns, the shape of every transition: parse the
CloudEvent, check its data schema, read the run, write its status (SQLite, conditional on
resourceVersion), answer the next event (``run.accepted``) in binary mode; then, as
``function_stale``, the same events redelivered (read, drop, empty 202). Bare floor: a
Flask app that parses the CloudEvent with the SDK and echoes it back in binary mode. Both
under ``functions/serve/gunicorn_conf.py`` (gthread, 1 worker), loopback. req/s comes from
``clients`` keep-alive client threads; p50/p99 from one client sending one event at a time
(per-transition latency without queueing; ``*_concurrent_ms`` are the loaded ones).

Cold start: exec of gunicorn -> first 2xx to an event (validate given a stale event),
beside the echo app, ``python -c pass`` and ``python -c "import flask"`` (exec -> exit);
each the median of ``starts``, with baton's modules byte-compiled first, as in the image.
"""

from __future__ import annotations

import argparse
import compileall
import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["bench_http", "echo_app"]

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
CONF = "python:functions.serve.gunicorn_conf"
SETUP = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: m, namespace: default}
spec: {provider: scripted, script: [{text: ok}]}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: a, namespace: default}
spec: {modelRef: {name: m}, systemPrompt: s}
"""


def echo_app() -> Any:
    """The floor: Flask parsing a CloudEvent (SDK, binary or structured) and echoing it back."""
    from cloudevents.core.bindings import http as ce_http
    from flask import Flask, Response, request

    app = Flask("echo")

    @app.post("/")
    def echo() -> Response:
        message = ce_http.HTTPMessage(dict(request.headers), request.get_data())
        event = ce_http.from_http_event(message)
        out = ce_http.to_binary_event(event)
        return Response(out.body, status=200, headers=out.headers)

    return app


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(port: int, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("K_SINK", "BATON_FUNCTION")}
    env.update(PORT=str(port), BATON_BIND_HOST="127.0.0.1", PYTHONPATH=str(ROOT), **extra)
    return env


def _post(
    conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str], path: str = "/"
) -> int:
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def _start(app: str, env: dict[str, str], cwd: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [GUNICORN, "-c", CONF, app],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _first_2xx(port: int, body: bytes, headers: dict[str, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status = _post(conn, body, headers)
            conn.close()
            if 200 <= status < 300:
                return
            raise RuntimeError(f"first event answered HTTP {status}")
        except ConnectionError:
            time.sleep(0.001)
    raise RuntimeError("server did not answer")


def cold_start(
    app: str, extra: dict[str, str], body: bytes, headers: dict[str, str], cwd: str
) -> float:
    """Milliseconds from exec of gunicorn to the first 2xx answer to an event."""
    port = free_port()
    env = _env(port, extra)
    started = time.perf_counter()
    process = _start(app, env, cwd)
    try:
        _first_2xx(port, body, headers)
        return (time.perf_counter() - started) * 1000
    finally:
        stop(process)


def exec_to_exit(code: str) -> float:
    """Milliseconds from exec of ``python -c code`` to its exit."""
    started = time.perf_counter()
    subprocess.run([PYTHON, "-c", code], check=True, cwd=ROOT)
    return (time.perf_counter() - started) * 1000


def load(
    port: int, requests: list[tuple[bytes, dict[str, str]]], clients: int, path: str = "/"
) -> dict[str, float]:
    """POST ``requests`` to ``path`` from ``clients`` keep-alive threads: req/s and percentiles."""
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    chunks = [requests[i::clients] for i in range(clients)]

    def client(chunk: list[tuple[bytes, dict[str, str]]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        for body, headers in chunk:
            t0 = time.perf_counter()
            status = _post(conn, body, headers, path)
            mine.append((time.perf_counter() - t0) * 1000)
            if status >= 300:
                errors.append(status)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]  # nearest rank

    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "n": float(len(latencies)),
        "errors": float(len(errors)),
    }


def _with_serial(concurrent: dict[str, float], serial: dict[str, float]) -> dict[str, float]:
    """req/s under load; p50/p99 from one client, one event at a time (no queueing in it)."""
    return {
        **concurrent,
        "p50_concurrent_ms": concurrent["p50_ms"],
        "p99_concurrent_ms": concurrent["p99_ms"],
        "p50_ms": serial["p50_ms"],
        "p99_ms": serial["p99_ms"],
        "serial_rps": serial["rps"],
    }


def _serve(
    app: str, extra: dict[str, str], cwd: str, probe: Callable[[int], None]
) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    process = _start(app, _env(port, extra), cwd)
    probe(port)
    return port, process


def bench_http(
    quick: bool = False, *, n: int | None = None, clients: int = 4, starts: int | None = None
) -> dict[str, Any]:
    """Throughput and latency of validate vs a bare echo under gunicorn, and cold starts."""
    sys.path.insert(0, str(ROOT))
    import yaml

    from events.apiserver import resource_event
    from events.codecs.http import to_binary
    from functions.cli.manifests import apply
    from functions.resources.sqlite import SqliteStore

    n = n or (300 if quick else 3000)
    starts = starts or (3 if quick else 7)
    with tempfile.TemporaryDirectory(prefix="baton-http-bench-") as tmp:
        store = SqliteStore(f"{tmp}/state.db")
        apply(store, list(yaml.safe_load_all(SETUP)))
        requests = []
        serial_n = max(50, n // 3)
        for i in range(n + serial_n + 50):
            run = store.create(
                {
                    "apiVersion": "baton.dev/v1alpha1",
                    "kind": "AgentRun",
                    "metadata": {"name": f"r{i}", "namespace": "default"},
                    "spec": {"agentRef": {"name": "a"}, "task": "t"},
                }
            )
            message = to_binary(resource_event("ADDED", run))
            requests.append((message.body, dict(message.headers)))
        fn_env = {"BATON_FUNCTION": "validate", "BATON_STORE": f"sqlite:///{tmp}/state.db"}
        warm, measured, serial = requests[:50], requests[50 : 50 + n], requests[50 + n :]

        def probe(port: int) -> None:
            _first_2xx(port, *warm[0])

        port, process = _serve("functions.serve.app:from_env()", fn_env, tmp, probe)
        try:
            load(port, warm[1:], clients)
            function = _with_serial(load(port, measured, clients), load(port, serial, 1))
            # The same events again: each run is Running now, so validate reads and drops it.
            stale_load = load(port, measured, clients)
        finally:
            stop(process)
        echo = "tests.bench.http_bench:echo_app()"
        port, process = _serve(echo, {}, tmp, probe)
        try:
            load(port, warm, clients)
            bare = _with_serial(load(port, measured, clients), load(port, serial, 1))
        finally:
            stop(process)

        # The image's pip install leaves bytecode beside the code; here PYTHONDONTWRITEBYTECODE
        # may be set, and compiling baton's modules on every start is not what a pod does.
        for package in ("functions", "events"):
            compileall.compile_dir(str(ROOT / package), quiet=1)
        gone = store.get("AgentRun", "default", "r0")
        store.delete("AgentRun", "default", "r0")
        stale = to_binary(resource_event("ADDED", gone))
        stale_req = (stale.body, dict(stale.headers))
        function["cold_start_ms"] = statistics.median(
            cold_start("functions.serve.app:from_env()", fn_env, *stale_req, tmp)
            for _ in range(starts)
        )
        bare["cold_start_ms"] = statistics.median(
            cold_start(echo, {}, *stale_req, tmp) for _ in range(starts)
        )
    return {
        "n": n,
        "clients": clients,
        "starts": starts,
        "function_name": "validate",
        "function": function,
        "bare": bare,
        "function_stale": stale_load,
        "interpreter": {
            "python_pass_ms": statistics.median(exec_to_exit("pass") for _ in range(starts)),
            "import_flask_ms": statistics.median(
                exec_to_exit("import flask") for _ in range(starts)
            ),
        },
        "ratio_rps": function["rps"] / bare["rps"],
    }


def main() -> None:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("-n", type=int)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(bench_http(args.quick, n=args.n, clients=args.clients), indent=2))


if __name__ == "__main__":
    main()
