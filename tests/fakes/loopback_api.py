"""The plumbing both fake model APIs share: a threaded HTTP server on 127.0.0.1 that records
every request, checks route, key and model like the real APIs, and plays a script of replies
and ``Fault``s. Each fake (``messages_api``, ``openai_api``) says only how its API writes a
reply, an error and a stream.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Self, TypeVar

from tests.fakes.messages_script import Fault

__all__ = ["APIHandler", "LoopbackAPI", "RecordedRequest", "serve_forever"]

ReplyT = TypeVar("ReplyT")


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received: headers with lower-case names, the JSON body, who sent it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    peer_port: int = 0  # the client's TCP port (which process called, for the chaos tests)


class LoopbackAPI(Generic[ReplyT]):
    """A scripted fake API served in a daemon thread; use as a context manager."""

    handler: ClassVar[type[APIHandler]]
    base_path: ClassVar[str] = ""  # what the SDK's ``base_url`` carries after the port

    def __init__(
        self,
        *,
        latency: float = 0.0,
        default: ReplyT | Fault | Callable[[RecordedRequest], ReplyT | Fault] | None = None,
        api_key: str | None = None,
        model_ids: frozenset[str] | None = None,
    ) -> None:
        self.latency = latency
        self.default = default
        self.api_key = api_key  # when set, other keys get 401 like the real API
        self.model_ids = model_ids  # when set, other model ids get 404
        self.requests: list[RecordedRequest] = []
        self._script: deque[Any] = deque()
        self._lock = threading.Condition()
        self._open = threading.Event()
        self._open.set()
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        """Base URL for the client's ``base_url``."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.base_path}"

    def enqueue(self, *items: ReplyT | Fault | Callable[[RecordedRequest], ReplyT | Fault]) -> None:
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

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        handler = type("Handler", (self.handler,), {"api": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release anything held."""
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, request: RecordedRequest) -> Any:
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


class APIHandler(BaseHTTPRequestHandler):
    """One request: record it, refuse it like the real API would, or play the script."""

    api: LoopbackAPI[Any]
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    route: ClassVar[str]  # the one path the API answers
    name: ClassVar[str]  # for the "no scripted reply left" error
    bad_key: ClassVar[str]  # the message of the 401
    unknown_model: ClassVar[str]  # the message of the 404 for a model, with ``{model}``
    malformed_json: ClassVar[bytes]  # a cut-off JSON reply
    malformed_stream: ClassVar[bytes]  # a cut-off stream frame
    overloaded: ClassVar[int]  # the status of a ``stream_error`` asked for without streaming

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""

    def do_POST(self) -> None:
        """Answer one API call from the script."""
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = RecordedRequest("POST", self.path, headers, body, self.client_address[1])
        script = self.api._record(request)
        self.api._open.wait()
        if self.path.split("?")[0] != self.route:
            return self._error(Fault.status_code(404, f"no route {self.path}"))
        if self.api.api_key is not None and _presented_key(headers) != self.api.api_key:
            return self._error(Fault.status_code(401, self.bad_key))
        model = str(body.get("model", ""))
        if self.api.model_ids is not None and model not in self.api.model_ids:
            return self._error(Fault.status_code(404, self.unknown_model.format(model=model)))
        if script is None:
            return self._error(Fault.status_code(400, f"{self.name}: no scripted reply left"))
        outcome = script(request) if callable(script) else script
        time.sleep(self.api.latency + outcome.delay)
        if isinstance(outcome, Fault):
            return self._fault(outcome, streaming=bool(body.get("stream")))
        self._reply(outcome, body, model)

    def _reply(self, reply: Any, body: dict[str, Any], model: str) -> None:
        """Send one scripted reply, streamed when the request asked for it."""
        raise NotImplementedError

    def _error(self, fault: Fault) -> None:
        """Send an HTTP error in the API's error shape."""
        raise NotImplementedError

    def _stream_error(self, fault: Fault) -> None:
        """Start a stream, then send an error event in it."""
        raise NotImplementedError

    def _request_id(self) -> tuple[str, str]:
        """The request-id header the API sets on every reply."""
        raise NotImplementedError

    def _fault(self, fault: Fault, streaming: bool) -> None:
        if fault.kind == "drop":
            self._drop()  # no status line: the client sees the connection go away
        elif fault.kind == "drop_mid_stream":
            self._stream_head()
            self.wfile.flush()
            self._drop()
        elif fault.kind == "malformed" and streaming:
            self._stream([self.malformed_stream])
        elif fault.kind == "malformed":
            self._send(200, self.malformed_json)
        elif fault.kind == "stream_error" and streaming:
            self._stream_error(fault)
        elif fault.kind == "stream_error":
            self._error(Fault.status_code(self.overloaded, fault.message))
        else:
            self._error(fault)

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        """Send a JSON body."""
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header(*self._request_id())
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _stream_head(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header(*self._request_id())
        self.end_headers()

    def _stream(self, frames: Iterable[bytes]) -> None:
        """Send server-sent event frames as one chunked response."""
        self._stream_head()
        for frame in frames:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        self.wfile.write(b"0\r\n\r\n")


def _presented_key(headers: dict[str, str]) -> str:
    """The key a client sent: ``x-api-key`` or ``Authorization: Bearer``."""
    bearer = headers.get("authorization", "")
    return headers.get("x-api-key") or bearer.removeprefix("Bearer ")


def serve_forever(api: LoopbackAPI[Any]) -> None:
    """Serve ``api`` in this process (benchmarks keep it off their GIL): print the URL, wait."""
    with api:
        print(api.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
