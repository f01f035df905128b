"""Benchmark: chat webhook ack latency under gunicorn, beside a bare Flask echo (same server).

Not collected by pytest (no time is asserted anywhere); run it alone:
``.venv/bin/python -m tests.bench.webhook_bench [--quick]``.

Three servers, each ``functions/serve/gunicorn_conf.py`` (gthread, 1 worker), loopback,
keep-alive clients in ``clients`` threads, every request a distinct signed Slack mention:

- ``bare``: a Flask app that reads the body and answers ``{"ok": true}`` (the floor).
- ``webhook_sink``: ``BATON_FUNCTION=webhook`` verifying the signature, building the
  channel.message and POSTing it to ``K_SINK`` (a loopback sink answering 202), as on Knative.
- ``webhook_embedded``: the same app with no sink: each message starts a real run (scripted
  agent) in the embedded runtime of that process while the acks are measured, which shows
  the ack does not wait for the run.

Target (DESIGN.md): ack p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.bench.http_bench import free_port, load, stop

__all__ = ["bench_webhook", "echo_app"]

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
CONF = "python:functions.serve.gunicorn_conf"
Request = tuple[bytes, dict[str, str]]


def echo_app() -> Any:
    """The floor: Flask reading a webhook body and acknowledging it."""
    from flask import Flask, Response, request

    app = Flask("echo")

    @app.post("/slack")
    def ack() -> Response:
        request.get_data()
        return Response(b'{"ok": true}', status=200, content_type="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b"{}", status=200, content_type="application/json")

    return app


class _Sink:
    """A loopback broker stand-in answering 202 to every event."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _serve(app: str, extra: dict[str, str], cwd: str) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("K_SINK", "BATON_FUNCTION")}
    env.update(PORT=str(port), BATON_BIND_HOST="127.0.0.1", PYTHONPATH=str(ROOT), **extra)
    process = subprocess.Popen(
        [GUNICORN, "-c", CONF, app],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return port, process
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError(f"{app} did not start")


def _mentions(count: int, offset: int) -> list[Request]:
    from tests.chat.platforms import Signer, slack_mention

    signer = Signer()
    return [
        signer.slack(slack_mention(f"<@UBOT> question {i}", ts=f"1700000000.{i:06d}"))
        for i in range(offset, offset + count)
    ]


AGENT = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: m, namespace: default}
spec: {provider: scripted, script: [{text: "ok"}]}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: helper, namespace: default}
spec: {modelRef: {name: m}, systemPrompt: s}
"""


def bench_webhook(quick: bool = False, *, n: int | None = None, clients: int = 4) -> dict[str, Any]:
    """Ack latency of the chat webhook (to a sink, and embedded) beside a bare Flask echo."""
    sys.path.insert(0, str(ROOT))
    import yaml

    from functions.cli.manifests import apply
    from functions.resources.sqlite import SqliteStore
    from tests.chat.platforms import SLACK_SECRET

    n = n or (200 if quick else 2000)
    warm = 50
    results: dict[str, Any] = {"n": n, "clients": clients}
    with tempfile.TemporaryDirectory(prefix="baton-webhook-bench-") as tmp:
        apply(SqliteStore(f"{tmp}/state.db"), list(yaml.safe_load_all(AGENT)))
        hook_env = {
            "BATON_FUNCTION": "webhook",
            "BATON_STORE": f"sqlite:///{tmp}/state.db",
            "BATON_CHAT_AGENT": "helper",
            "BATON_SLACK_SIGNING_SECRET": SLACK_SECRET,
            "BATON_LOG_LEVEL": "warning",
        }
        sink = _Sink()
        shapes = {
            "bare": ("tests.bench.webhook_bench:echo_app()", {}),
            "webhook_sink": ("functions.serve.app:from_env()", {**hook_env, "K_SINK": sink.url}),
            "webhook_embedded": ("functions.serve.app:from_env()", hook_env),
        }
        try:
            for offset, (name, (app, env)) in enumerate(shapes.items()):
                port, process = _serve(app, env, tmp)
                try:
                    base = offset * (n + warm)
                    load(port, _mentions(warm, base), clients, "/slack")
                    results[name] = load(port, _mentions(n, base + warm), clients, "/slack")
                finally:
                    stop(process)
        finally:
            sink.close()
        if results["webhook_embedded"]["errors"] == 0:
            runs = SqliteStore(f"{tmp}/state.db").list("AgentRun")
            results["webhook_embedded"]["runs_created_before_stop"] = float(len(runs))
    results["target_p99_ms"] = 50.0
    return results


def main() -> None:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description="chat webhook ack latency")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("-n", type=int)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(bench_webhook(args.quick, n=args.n, clients=args.clients), indent=2))


if __name__ == "__main__":
    main()
