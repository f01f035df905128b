"""Test doubles at the HTTP edge: signed requests as platforms send them, fake platform APIs.

``Signer`` builds the body and headers Slack, Discord, Telegram or a generic sender
would POST (with the test's secrets, or deliberately wrong ones). ``FakePlatform`` is
a loopback HTTP server that records every request and answers as the platform would
(``answer`` can be set per path to rate-limit or refuse).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from events.sources.chat import ChatConfig
from events.sources.chat.signatures import hmac_hex, sign_baton

__all__ = ["FakePlatform", "Recorded", "Signer", "serve_app"]

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TELEGRAM_TOKEN = "telegram-secret-token-123"
WEBHOOK_SECRET = "generic-shared-secret"
REPLY_SECRET = "generic-reply-secret"
# Test receivers listen on random loopback ports: the allow-list names the host, any port.
REPLY_URLS = ("http://127.0.0.1",)


@dataclass
class Signer:
    """The secrets a test deployment uses, and requests signed with them."""

    slack_secret: str = SLACK_SECRET
    telegram_token: str = TELEGRAM_TOKEN
    webhook_secret: str = WEBHOOK_SECRET
    discord_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def discord_public_hex(self) -> str:
        """The Discord application's public key as configured (hex)."""
        raw = self.discord_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return raw.hex()

    def config(self, agent: str = "helper", **kwargs: Any) -> ChatConfig:
        """The webhook's configuration with these secrets."""
        return ChatConfig(
            default_agent=agent,
            slack_signing_secret=self.slack_secret,
            discord_public_key=self.discord_public_hex,
            telegram_secret_token=self.telegram_token,
            webhook_secret=self.webhook_secret,
            **{"reply_urls": REPLY_URLS, **kwargs},
        )

    def slack(
        self, doc: Any, *, secret: str | None = None, ts: float | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A Slack Events API request."""
        body = json.dumps(doc).encode()
        stamp = str(int(time.time() if ts is None else ts))
        sig = "v0=" + hmac_hex(secret or self.slack_secret, f"v0:{stamp}:".encode() + body)
        return body, {
            "content-type": "application/json",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": sig,
        }

    def discord(
        self, doc: Any, *, key: Ed25519PrivateKey | None = None, ts: float | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A Discord interaction request."""
        body = json.dumps(doc).encode()
        stamp = str(int(time.time() if ts is None else ts))
        sig = (key or self.discord_key).sign(stamp.encode() + body).hex()
        return body, {
            "content-type": "application/json",
            "x-signature-ed25519": sig,
            "x-signature-timestamp": stamp,
        }

    def telegram(self, doc: Any, *, token: str | None = None) -> tuple[bytes, dict[str, str]]:
        """A Telegram update."""
        body = json.dumps(doc).encode()
        return body, {
            "content-type": "application/json",
            "x-telegram-bot-api-secret-token": token or self.telegram_token,
        }

    def webhook(
        self, doc: Any, *, secret: str | None = None, ts: float | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A generic signed webhook request."""
        body = json.dumps(doc).encode()
        stamp = int(time.time() if ts is None else ts)
        return body, {
            "content-type": "application/json",
            "x-baton-signature": sign_baton(secret or self.webhook_secret, body, stamp),
        }


def slack_mention(
    text: str = "<@UBOT> what is 2+3?", ts: str = "1700000000.000100", **event: Any
) -> dict[str, Any]:
    """An ``app_mention`` event_callback in channel C1 of team T1."""
    return {
        "type": "event_callback",
        "team_id": "T1",
        "event_id": "Ev1",
        "authorizations": [{"user_id": "UBOT"}],
        "event": {
            "type": "app_mention",
            "channel": "C1",
            "user": "U1",
            "text": text,
            "ts": ts,
            **event,
        },
    }


def discord_command(
    text: str = "what is 2+3?", interaction: str = "I1", **extra: Any
) -> dict[str, Any]:
    """A slash command ``/ask text:...`` in channel CH1."""
    return {
        "type": 2,
        "id": interaction,
        "application_id": "APP1",
        "channel_id": "CH1",
        "token": "tok-" + interaction,
        "data": {"name": "ask", "options": [{"name": "text", "type": 3, "value": text}]},
        **extra,
    }


def telegram_update(
    text: str = "what is 2+3?", message_id: int = 7, **message: Any
) -> dict[str, Any]:
    """A private-chat text message in chat 42."""
    return {
        "update_id": 1000 + message_id,
        "message": {
            "message_id": message_id,
            "from": {"id": 5, "is_bot": False, "first_name": "Ada"},
            "chat": {"id": 42, "type": "private"},
            "date": int(time.time()),
            "text": text,
            **message,
        },
    }


@dataclass(frozen=True)
class Recorded:
    """One request a fake platform received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


Answer = Callable[[Recorded], tuple[int, dict[str, str], Any]]


def _platform_ok(req: Recorded) -> tuple[int, dict[str, str], Any]:
    if "/webhooks/" in req.path:
        return 200, {}, {"id": "M1", "content": req.json().get("content")}
    return 200, {}, {"ok": True}


class FakePlatform:
    """A loopback server standing in for Slack's Web API, Discord's, Telegram's or a receiver."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.requests: list[Recorded] = []
        self.answer: Answer = answer or _platform_ok
        self._changed = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                req = Recorded(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                status, headers, doc = fake.answer(req)
                fake._record(req)
                raw = json.dumps(doc).encode() if doc is not None else b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_POST = do_PATCH = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _record(self, req: Recorded) -> None:
        with self._changed:
            self.requests.append(req)
            self._changed.notify_all()

    def wait_for(self, count: int = 1, timeout: float = 20) -> list[Recorded]:
        """The first ``count`` requests, waiting for them."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"platform got {len(self.requests)} requests, not {count}")
            return list(self.requests[:count])

    def __enter__(self) -> FakePlatform:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """A WSGI app under werkzeug's threaded server on a free loopback port; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
