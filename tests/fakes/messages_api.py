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
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from tests.fakes.loopback_api import APIHandler, LoopbackAPI, RecordedRequest, serve_forever
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


class _Handler(APIHandler):
    route = "/v1/messages"
    name = "fake Messages API"
    bad_key = "invalid x-api-key"
    unknown_model = "model: {model}"
    malformed_json = b'{"id": "msg_x", "type": "message", "content": ['
    malformed_stream = b'event: message_start\ndata: {"type": "message_st\n\n'
    overloaded = 529

    def _reply(self, reply: Reply, body: dict[str, Any], model: str) -> None:
        message = message_json(reply, model)
        if body.get("stream"):
            return self._stream(_frames(sse_events(message)))
        self._send(200, json.dumps(message).encode())

    def _stream_error(self, fault: Fault) -> None:
        error = {"type": "error", "error": {"type": "overloaded_error", "message": fault.message}}
        start = itertools.islice(sse_events(message_json(Reply([]), "fake")), 1)
        self._stream(_frames(itertools.chain(start, [("error", error)])))

    def _error(self, fault: Fault) -> None:
        error_type = fault.error_type or ERROR_TYPES.get(fault.status, "api_error")
        body = {
            "type": "error",
            "error": {"type": error_type, "message": fault.message},
            "request_id": new_id("req"),
        }
        self._send(fault.status, json.dumps(body).encode(), fault.headers)

    def _request_id(self) -> tuple[str, str]:
        return "request-id", new_id("req")


def _frames(events: Iterable[tuple[str, dict[str, Any]]]) -> Iterator[bytes]:
    for name, data in events:
        yield f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


class FakeMessagesAPI(LoopbackAPI[Reply]):
    """A threaded HTTP server speaking ``POST /v1/messages``; use as a context manager."""

    handler = _Handler


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
    serve_forever(api)


if __name__ == "__main__":
    main()
