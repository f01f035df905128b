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

import itertools
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.loopback_api import APIHandler, LoopbackAPI, RecordedRequest, serve_forever
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


class _Handler(APIHandler):
    route = "/v1/chat/completions"
    name = "fake OpenAI API"
    bad_key = "Incorrect API key provided"
    unknown_model = "The model `{model}` does not exist"
    malformed_json = b'{"id": "chatcmpl-x", "choices": ['
    malformed_stream = b'data: {"id": "chatcmpl-x", "choices": [\n\n'
    overloaded = 503

    def _reply(self, reply: ChatReply, body: dict[str, Any], model: str) -> None:
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self._stream(_frames(chunks(reply, model, usage)))
        self._send(200, json.dumps(completion_json(reply, model)).encode())

    def _stream_error(self, fault: Fault) -> None:
        first = next(chunks(ChatReply(""), "fake", False))
        error = {"error": {"message": fault.message, "type": "server_error", "code": None}}
        self._stream(_frames([first, error]))

    def _error(self, fault: Fault) -> None:
        kind, code = _ERRORS.get(fault.status, ("api_error", None))
        error = {"message": fault.message, "type": kind, "param": None}
        error["code"] = fault.error_type or code
        self._send(fault.status, json.dumps({"error": error}).encode(), fault.headers)

    def _request_id(self) -> tuple[str, str]:
        return "x-request-id", f"req_{next(_ids):06d}"


def _frames(events: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    for event in events:
        yield f"data: {json.dumps(event)}\n\n".encode()
    yield b"data: [DONE]\n\n"


class FakeOpenAIAPI(LoopbackAPI[ChatReply]):
    """A threaded HTTP server speaking ``POST /v1/chat/completions``; a context manager."""

    handler = _Handler
    base_path = "/v1"  # as OpenAI's base URL does


def main(argv: list[str] | None = None) -> None:
    """Serve in its own process (benchmarks keep it off their GIL); prints the URL, then waits."""
    import argparse

    parser = argparse.ArgumentParser(description="fake OpenAI Chat Completions API on 127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--text", default="ok", help="the text every call gets back")
    args = parser.parse_args(argv)
    serve_forever(FakeOpenAIAPI(latency=args.latency, default=ChatReply.text(args.text)))


if __name__ == "__main__":
    main()
