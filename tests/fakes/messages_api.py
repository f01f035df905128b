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

import itertools
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

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

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

_ids = itertools.count(1)


def text(value: str) -> dict[str, Any]:
    """A text content block."""
    return {"type": "text", "text": value}


def tool_use(name: str, input: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    """A tool_use content block (id generated when not given)."""
    return {"type": "tool_use", "id": id or f"toolu_{next(_ids):04d}", "name": name, "input": input}


def thinking(value: str, signature: str = "sig-abc") -> dict[str, Any]:
    """A thinking content block with its signature."""
    return {"type": "thinking", "thinking": value, "signature": signature}


def redacted_thinking(data: str = "opaque") -> dict[str, Any]:
    """A redacted_thinking content block."""
    return {"type": "redacted_thinking", "data": data}


@dataclass(frozen=True)
class Reply:
    """One successful model reply; ``usage`` uses the API's field names."""

    content: list[dict[str, Any]]
    stop_reason: str = "end_turn"
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 10, "output_tokens": 5})
    stop_sequence: str | None = None
    delay: float = 0.0

    @classmethod
    def text(cls, value: str, **kw: Any) -> Reply:
        """A reply with one text block."""
        return cls([text(value)], **kw)

    @classmethod
    def tools(cls, *calls: tuple[str, dict[str, Any]], **kw: Any) -> Reply:
        """A tool_use reply with one block per (name, input)."""
        return cls([tool_use(n, i) for n, i in calls], stop_reason="tool_use", **kw)


@dataclass(frozen=True)
class Fault:
    """A failure: an HTTP error, or ``kind`` drop | drop_mid_stream | malformed | stream_error."""

    status: int = 500
    message: str = "fake failure"
    error_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = "status"
    delay: float = 0.0

    @classmethod
    def status_code(cls, status: int, message: str = "", retry_after: float | None = None) -> Fault:
        """An HTTP error in Anthropic's error JSON shape, with ``retry-after`` when given."""
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        return cls(status=status, message=message or f"fake {status}", headers=headers)


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received: headers with lower-case names, and the JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


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
        request = RecordedRequest(
            "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
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
        message = _message(outcome, model)
        if body.get("stream"):
            return self._stream(_sse_events(message))
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
            start = _message(Reply([]), "fake")
            self._stream(itertools.islice(_sse_events(start), 1), ("error", error))
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
            "request_id": f"req_{next(_ids):06d}",
        }
        self._send(fault.status, json.dumps(body).encode(), "application/json", fault.headers)

    def _send(
        self, status: int, payload: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(payload)))
        self.send_header("request-id", f"req_{next(_ids):06d}")
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
        self.send_header("request-id", f"req_{next(_ids):06d}")
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


def _message(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": f"msg_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": reply.content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": dict(reply.usage),
    }


def _sse_events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The event sequence the real API streams for ``message``."""
    usage = message["usage"]
    start_usage = {k: v for k, v in usage.items() if k != "output_tokens"} | {"output_tokens": 1}
    start = message | {"content": [], "stop_reason": None, "stop_sequence": None}
    yield "message_start", {"type": "message_start", "message": start | {"usage": start_usage}}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(message["content"]):
        yield from _block_events(index, block)
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    yield "message_delta", {"type": "message_delta", "delta": delta, "usage": dict(usage)}
    yield "message_stop", {"type": "message_stop"}


def _block_events(index: int, block: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    kind = block["type"]
    empty: dict[str, Any] = {
        "text": {"type": "text", "text": ""},
        "thinking": {"type": "thinking", "thinking": "", "signature": ""},
        "tool_use": {k: block.get(k) for k in ("type", "id", "name")} | {"input": {}},
    }.get(kind, block)
    yield (
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": empty},
    )
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        deltas = [{"type": "text_delta", "text": c} for c in _chunks(block["text"])]
    elif kind == "thinking":
        deltas = [{"type": "thinking_delta", "thinking": c} for c in _chunks(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "tool_use":
        partial = _chunks(json.dumps(block["input"]))
        deltas = [{"type": "input_json_delta", "partial_json": c} for c in partial]
    for delta in deltas:
        yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    yield "content_block_stop", {"type": "content_block_stop", "index": index}


def _chunks(value: str, size: int = 7) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


@pytest.fixture
def messages_api() -> Iterator[FakeMessagesAPI]:
    """A started fake Messages API, stopped after the test."""
    with FakeMessagesAPI() as api:
        yield api
