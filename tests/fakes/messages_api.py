"""A fake Anthropic Messages API on loopback for tests that drive the real ``anthropic`` client.

Scripted per test: queue ``Reply``s (content blocks, stop reason, usage), ``Fault``s (HTTP
errors in Anthropic's error shape, malformed JSON, dropped connections, a mid-stream error)
or callables that build either from the request. Replies go out as JSON or, when the request
says ``stream: true``, as the real SSE event sequence. Every request is recorded.

    with FakeMessagesAPI() as api:
        api.enqueue(Reply.text("hello"))
        client = anthropic.Anthropic(api_key="k", base_url=api.url, max_retries=0)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fakes.messages_script import (
    ERROR_TYPES,
    Fault,
    Reply,
    message_json,
    new_id,
    redacted_thinking,
    sse_events,
    text,
    thinking,
    tool_use,
)

__all__ = [
    "ERROR_TYPES",
    "FakeMessagesAPI",
    "Fault",
    "RecordedRequest",
    "Reply",
    "messages_api",
    "redacted_thinking",
    "text",
    "thinking",
    "tool_use",
]


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received: headers with lower-case names, the JSON body, who sent it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    peer_port: int = 0  # the client's TCP port (which process called, for the chaos tests)


Script = Reply | Fault | Callable[[RecordedRequest], "Reply | Fault"]


class FakeMessagesAPI:
    """A threaded HTTP server speaking ``POST /v1/messages``; use as a context manager."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        default: Script | None = None,
        api_key: str | None = None,
        model_ids: frozenset[str] | None = None,
    ) -> None:
        self.latency = latency
        self.default = default
        self.api_key = api_key  # when set, other keys get 401 like the real API
        self.model_ids = model_ids  # when set, other model ids get 404
        self.requests: list[RecordedRequest] = []
        self._script: deque[Script] = deque()
        self._lock = threading.Condition()
        self._open = threading.Event()
        self._open.set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL for the client's ``base_url``."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def enqueue(self, *items: Script) -> None:
        """Script the next replies, in order."""
        with self._lock:
            self._script.extend(items)

    def hold(self) -> None:
        """Block every reply until ``release()`` (the request is still recorded first)."""
        self._open.clear()

    def release(self) -> None:
        """Let held replies go."""
        self._open.set()

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Wait until ``n`` requests have arrived; the recorded requests."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"{len(self.requests)} of {n} requests arrived")
            return list(self.requests)

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies received, in order."""
        with self._lock:
            return [r.body for r in self.requests]

    def start(self) -> FakeMessagesAPI:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release anything held."""
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeMessagesAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, request: RecordedRequest) -> Script | None:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            return self._script.popleft() if self._script else self.default


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096  # the benchmark opens 1,000 connections at once
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that time out or hang up: tests script exactly that."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    api: FakeMessagesAPI
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""

    def do_POST(self) -> None:
        """Answer one Messages API call from the script."""
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = RecordedRequest("POST", self.path, headers, body, self.client_address[1])
        script = self.api._record(request)
        self.api._open.wait()
        if self.path.split("?")[0] != "/v1/messages":
            return self._error(Fault.status_code(404, f"no route {self.path}"))
        if self.api.api_key is not None and _presented_key(request.headers) != self.api.api_key:
            return self._error(Fault.status_code(401, "invalid x-api-key"))
        model = str(body.get("model", ""))
        if self.api.model_ids is not None and model not in self.api.model_ids:
            return self._error(Fault.status_code(404, f"model: {model}"))
        if script is None:
            return self._error(Fault.status_code(400, "fake Messages API: no scripted reply left"))
        outcome = script(request) if callable(script) else script
        time.sleep(self.api.latency + outcome.delay)
        if isinstance(outcome, Fault):
            return self._fault(outcome, streaming=bool(body.get("stream")))
        message = message_json(outcome, model)
        if body.get("stream"):
            return self._stream(sse_events(message))
        self._send(200, json.dumps(message).encode(), "application/json")

    def _fault(self, fault: Fault, streaming: bool) -> None:
        if fault.kind == "drop":
            self._drop()  # no status line: the client sees the connection go away
        elif fault.kind == "drop_mid_stream":
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            self._drop()
        elif fault.kind == "malformed" and streaming:
            self._stream(iter(()), raw=b'event: message_start\ndata: {"type": "message_st\n\n')
        elif fault.kind == "malformed":
            self._send(200, b'{"id": "msg_x", "type": "message", "content": [', "application/json")
        elif fault.kind == "stream_error" and not streaming:
            self._error(Fault.status_code(529, fault.message))
        elif fault.kind == "stream_error":
            error = {
                "type": "error",
                "error": {"type": "overloaded_error", "message": fault.message},
            }
            start = message_json(Reply([]), "fake")
            self._stream(itertools.islice(sse_events(start), 1), ("error", error))
        else:
            self._error(fault)

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _error(self, fault: Fault) -> None:
        error_type = fault.error_type or ERROR_TYPES.get(fault.status, "api_error")
        body = {
            "type": "error",
            "error": {"type": error_type, "message": fault.message},
            "request_id": new_id("req"),
        }
        self._send(fault.status, json.dumps(body).encode(), "application/json", fault.headers)

    def _send(
        self, status: int, payload: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(payload)))
        self.send_header("request-id", new_id("req"))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _stream(
        self,
        events: Iterator[tuple[str, dict[str, Any]]],
        *extra: tuple[str, dict[str, Any]],
        raw: bytes = b"",
    ) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", new_id("req"))
        self.end_headers()
        for name, data in itertools.chain(events, extra):
            chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if raw:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
        self.wfile.write(b"0\r\n\r\n")


def _presented_key(headers: dict[str, str]) -> str:
    """The key a client sent: ``x-api-key`` or ``Authorization: Bearer`` (SDK 2.x)."""
    bearer = headers.get("authorization", "")
    return headers.get("x-api-key") or bearer.removeprefix("Bearer ")


@pytest.fixture
def messages_api() -> Iterator[FakeMessagesAPI]:
    """A started fake Messages API, stopped after the test."""
    with FakeMessagesAPI() as api:
        yield api


def main(argv: list[str] | None = None) -> None:
    """Serve in its own process (benchmarks keep it off their GIL); prints the URL, then waits."""
    import argparse

    parser = argparse.ArgumentParser(description="fake Anthropic Messages API on 127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--text", default="ok", help="the text every call gets back")
    parser.add_argument("--api-key", default=None, help="accept only this key")
    args = parser.parse_args(argv)
    api = FakeMessagesAPI(latency=args.latency, default=Reply.text(args.text), api_key=args.api_key)
    with api:
        print(api.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
