"""What the fake Messages API says: content blocks, scripted replies and faults, and the
JSON message and SSE event sequence the real API would send for a reply.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ERROR_TYPES",
    "Fault",
    "Reply",
    "message_json",
    "new_id",
    "redacted_thinking",
    "sse_events",
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


def new_id(prefix: str) -> str:
    """A fresh id such as ``req_000042``."""
    return f"{prefix}_{next(_ids):06d}"


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


def message_json(reply: Reply, model: str) -> dict[str, Any]:
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


def sse_events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
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
