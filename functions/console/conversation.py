"""A run's transcript for people: messages, tool calls and results, thinking kept apart.

Read from the journal (the same entries the transitions rebuild the model's messages
from), in the order they were written. Long texts are cut so one page stays light.
"""

from __future__ import annotations

import json
from typing import Any, Final

from functions.run.transcript import CONTEXT

__all__ = ["MAX_TEXT", "conversation"]

MAX_TEXT: Final = 20_000


def _cut(text: str) -> dict[str, Any]:
    if len(text) <= MAX_TEXT:
        return {"text": text}
    return {"text": text[:MAX_TEXT], "cut": len(text) - MAX_TEXT}


def _text_of(content: Any) -> str:
    """Plain text of a message's content (a string, or text blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text", "") for b in content if isinstance(b, dict) and "text" in b]
        return "\n".join(parts) if parts else json.dumps(content)[:MAX_TEXT]
    return str(content)


def _block(block: dict[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", **_cut(str(block.get("text", "")))}
    if kind in ("thinking", "redacted_thinking"):
        body = block.get("thinking") or ("(redacted by the provider)" if kind != "thinking" else "")
        return {"type": "thinking", **_cut(str(body))}
    if kind == "tool_use":
        return {
            "type": "tool_use",
            "id": str(block.get("id", "")),
            "name": str(block.get("name", "")),
            **_cut(json.dumps(block.get("input") or {}, indent=2, ensure_ascii=False)),
        }
    return {"type": str(kind), **_cut(json.dumps(block, ensure_ascii=False))}


def conversation(entries: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The transcript items of a journal: system, user, assistant, tool_result."""
    items: list[dict[str, Any]] = []
    for key, entry in entries:
        if key == CONTEXT:
            if entry.get("system"):
                items.append({"kind": "system", **_cut(str(entry["system"]))})
            for message in entry.get("messages") or []:
                role = "assistant" if message.get("role") == "assistant" else "user"
                items.append({"kind": role, **_cut(_text_of(message.get("content")))})
        elif key.startswith("user/"):
            step = int(key.split("/", 1)[1])
            items.append({"kind": "user", "step": step, **_cut(_text_of(entry.get("content")))})
        elif key.startswith("reply/"):
            blocks = [_block(b) for b in entry.get("content") or [] if isinstance(b, dict)]
            items.append(
                {
                    "kind": "assistant",
                    "step": int(key.split("/", 1)[1]),
                    "model": str(entry.get("model", "")),
                    "stopReason": str(entry.get("stop_reason", "")),
                    "blocks": blocks,
                }
            )
        elif key.startswith("tool/"):
            _, at, call_id = key.split("/", 2)
            items.append(
                {
                    "kind": "tool_result",
                    "step": int(at),
                    "callId": call_id,
                    "name": str(entry.get("name", "")),
                    "isError": bool(entry.get("is_error")),
                    **_cut(_text_of(entry.get("content", ""))),
                }
            )
    return items
