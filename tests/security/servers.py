"""Real gunicorn servers for the hostile-input tests: the route function and the chat webhook.

Both run with a short read deadline (``BATON_READ_DEADLINE=2``) and the default body limit;
the webhook publishes to an ``EventSink`` standing in for the broker, the route function
writes to a SQLite store with the scripted ``helper`` Agent, so a test can check that a
refused request wrote nothing.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from functions.cli.manifests import apply
from functions.resources.sqlite import SqliteStore
from tests.chat.platforms import REPLY_URLS, Signer
from tests.fixtures.http import EventSink, serve_function

__all__ = ["READ_DEADLINE", "Servers", "raw_exchange", "running_servers"]

READ_DEADLINE = 2.0
WORLD = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: scripted, namespace: default}
spec: {provider: scripted, model: scripted-1, script: [{text: "ok"}]}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: helper, namespace: default}
spec: {modelRef: {name: scripted}, tools: [{builtin: calculate}]}
"""


@dataclass
class Servers:
    """The served route function and webhook, what they share, and who signs requests."""

    route: str
    webhook: str
    store: SqliteStore
    sink: EventSink
    signer: Signer
    logs: Path

    def runs(self) -> list[str]:
        """Names of the AgentRuns in the store."""
        return [r["metadata"]["name"] for r in self.store.list("AgentRun")]


@contextmanager
def running_servers(workdir: Path) -> Iterator[Servers]:
    """Both servers on free loopback ports until the block ends."""
    signer = Signer()
    db = workdir / "state.db"
    store = SqliteStore(str(db))
    apply(store, [d for d in yaml.safe_load_all(WORLD) if d])
    common = {"BATON_READ_DEADLINE": str(READ_DEADLINE)}
    with ExitStack() as stack:
        sink = stack.enter_context(EventSink())
        route = stack.enter_context(
            serve_function("route", store=f"sqlite:///{db}", log_dir=workdir, env=common)
        )
        secrets = {
            "BATON_CHAT_AGENT": "helper",
            "BATON_SLACK_SIGNING_SECRET": signer.slack_secret,
            "BATON_DISCORD_PUBLIC_KEY": signer.discord_public_hex,
            "BATON_TELEGRAM_SECRET_TOKEN": signer.telegram_token,
            "BATON_WEBHOOK_SECRET": signer.webhook_secret,
            "BATON_WEBHOOK_REPLY_URLS": ",".join(REPLY_URLS),
        }
        webhook = stack.enter_context(
            serve_function(
                "webhook",
                store=f"sqlite:///{db}",
                log_dir=workdir,
                sink=sink.url,
                env={**common, **secrets},
            )
        )
        yield Servers(route.url, webhook.url, store, sink, signer, workdir)


def raw_exchange(url: str, data: bytes, *, wait: float = 10.0) -> tuple[int, bytes, float]:
    """Send ``data`` as is on a fresh connection; (status, body, seconds until the answer).

    Status 0: the server closed without an answer.
    """
    parts = urlsplit(url)
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=wait) as sock:
        # The server may answer and close before it has read everything.
        with contextlib.suppress(OSError):
            sock.sendall(data)
        received = b""
        try:
            while b"\r\n\r\n" not in received or not _complete(received):
                piece = sock.recv(65536)
                if not piece:
                    break
                received += piece
        except OSError:
            pass
    elapsed = time.monotonic() - started
    if not received.startswith(b"HTTP/"):
        return 0, received, elapsed
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body, elapsed


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return True
