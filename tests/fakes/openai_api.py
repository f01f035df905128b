"""A fake OpenAI Chat Completions API on loopback for tests that drive the real ``openai`` client.

Scripted per test like ``messages_api``: queue ``ChatReply``s (text, tool calls, finish
reason, usage with cached tokens), ``Fault``s (HTTP errors in OpenAI's error shape with
retry-after, malformed JSON, dropped connections, an error event mid-stream) or callables
that build either from the request. Replies go out as JSON or, when the request says
``stream: true``, as the chunk sequence the real API streams (``data: [DONE]`` last, usage
in its own chunk when ``stream_options.include_usage`` is set). Every request is recorded.

    with FakeOpenAIAPI() as api:
        api.enqueue(ChatReply.text("hello"))
        client = openai.OpenAI(api_key="k", base_url=api.url, max_retries=0)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.messages_api import RecordedRequest, _Server
from tests.fakes.messages_script import Fault

__all__ = ["ChatReply", "FakeOpenAIAPI", "Fault", "RecordedRequest", "call"]

# status -> (type, code) as OpenAI sends them.
_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}
_ids = itertools.count(1)


def call(name: str, arguments: dict[str, Any] | str, id: str | None = None) -> dict[str, Any]:
    """A tool call as the API sends it (``arguments`` a JSON string; a dict is encoded)."""
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "id": id or f"call_{next(_ids):05d}",
        "type": "function",
        "function": {"name": name, "arguments": encoded},
    }


@dataclass(frozen=True)
class ChatReply:
    """One successful completion; ``cached`` is ``prompt_tokens_details.cached_tokens``."""

    content: str | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = "stop"
    prompt_tokens: int = 10
    completion_tokens: int = 5
    cached: int = 0
    delay: float = 0.0

    @classmethod
    def text(cls, value: str, **kw: Any) -> ChatReply:
        """A plain text answer."""
        return cls(value, **kw)

    @classmethod
    def tools(cls, *calls: dict[str, Any], content: str | None = None, **kw: Any) -> ChatReply:
        """A reply asking for the given tool calls (see ``call``)."""
        return cls(content, list(calls), finish_reason="tool_calls", **kw)

    def usage(self) -> dict[str, Any]:
        """The usage object of the reply."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached},
        }


Script = ChatReply | Fault | Callable[[RecordedRequest], "ChatReply | Fault"]


def completion_json(reply: ChatReply, model: str) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` object for ``reply``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    return {
        "id": f"chatcmpl-{next(_ids):06d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}
        ],
        "usage": reply.usage(),
    }


def chunks(reply: ChatReply, model: str, include_usage: bool) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` sequence the real API streams for ``reply``."""
    base = {"id": f"chatcmpl-{next(_ids):06d}", "object": "chat.completion.chunk"}
    base |= {"created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return base | {"choices": [choice]}

    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(reply.content or ""):
        yield chunk({"content": piece})
    for index, tool in enumerate(reply.tool_calls):
        head = {"index": index, "id": tool["id"], "type": "function"}
        yield chunk({"tool_calls": [head | {"function": {"name": tool["function"]["name"]}}]})
        for piece in _pieces(tool["function"]["arguments"]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, reply.finish_reason)
    if include_usage:
        yield base | {"choices": [], "usage": reply.usage()}


def _pieces(value: str, size: int = 7) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)]


class FakeOpenAIAPI:
    """A threaded HTTP server speaking ``POST /v1/chat/completions``; a context manager."""

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
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        """Base URL for the client's ``base_url`` (ends in ``/v1``, as OpenAI's does)."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def enqueue(self, *items: Script) -> None:
        """Script the next replies, in order."""
        with self._lock:
            self._script.extend(items)

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies received, in order."""
        with self._lock:
            return [r.body for r in self.requests]

    def start(self) -> FakeOpenAIAPI:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAIAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, request: RecordedRequest) -> Script | None:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            return self._script.popleft() if self._script else self.default


class _Handler(BaseHTTPRequestHandler):
    api: FakeOpenAIAPI
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""

    def do_POST(self) -> None:
        """Answer one Chat Completions call from the script."""
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = RecordedRequest("POST", self.path, headers, body)
        script = self.api._record(request)
        if self.path.split("?")[0] != "/v1/chat/completions":
            return self._error(Fault.status_code(404, f"no route {self.path}"))
        presented = headers.get("authorization", "").removeprefix("Bearer ")
        if self.api.api_key is not None and presented != self.api.api_key:
            return self._error(Fault.status_code(401, "Incorrect API key provided"))
        model = str(body.get("model", ""))
        if self.api.model_ids is not None and model not in self.api.model_ids:
            return self._error(Fault.status_code(404, f"The model `{model}` does not exist"))
        if script is None:
            return self._error(Fault.status_code(400, "fake OpenAI API: no scripted reply left"))
        outcome = script(request) if callable(script) else script
        time.sleep(self.api.latency + outcome.delay)
        streaming = bool(body.get("stream"))
        if isinstance(outcome, Fault):
            return self._fault(outcome, streaming)
        if streaming:
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self._stream(chunks(outcome, model, usage))
        self._send(200, json.dumps(completion_json(outcome, model)).encode(), "application/json")

    def _fault(self, fault: Fault, streaming: bool) -> None:
        if fault.kind == "drop":
            self._drop()
        elif fault.kind == "drop_mid_stream":
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            self._drop()
        elif fault.kind == "malformed" and streaming:
            self._stream(iter(()), raw=b'data: {"id": "chatcmpl-x", "choices": [\n\n')
        elif fault.kind == "malformed":
            self._send(200, b'{"id": "chatcmpl-x", "choices": [', "application/json")
        elif fault.kind == "stream_error" and streaming:
            first = next(chunks(ChatReply(""), "fake", False))
            error = {"error": {"message": fault.message, "type": "server_error", "code": None}}
            self._stream(iter([first, error]))
        elif fault.kind == "stream_error":
            self._error(Fault.status_code(503, fault.message))
        else:
            self._error(fault)

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _error(self, fault: Fault) -> None:
        kind, code = _ERRORS.get(fault.status, ("api_error", None))
        error = {"message": fault.message, "type": kind, "param": None}
        error["code"] = fault.error_type or code
        self._send(
            fault.status, json.dumps({"error": error}).encode(), "application/json", fault.headers
        )

    def _send(
        self, status: int, payload: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-request-id", f"req_{next(_ids):06d}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, events: Iterator[dict[str, Any]], raw: bytes = b"") -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        frames = [f"data: {json.dumps(e)}\n\n".encode() for e in events]
        frames += [raw] if raw else [b"data: [DONE]\n\n"]
        for frame in frames:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        self.wfile.write(b"0\r\n\r\n")


def main(argv: list[str] | None = None) -> None:
    """Serve in its own process (benchmarks keep it off their GIL); prints the URL, then waits."""
    import argparse

    parser = argparse.ArgumentParser(description="fake OpenAI Chat Completions API on 127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--text", default="ok", help="the text every call gets back")
    args = parser.parse_args(argv)
    with FakeOpenAIAPI(latency=args.latency, default=ChatReply.text(args.text)) as api:
        print(api.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
