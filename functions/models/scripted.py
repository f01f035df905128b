"""The scripted provider: offline, deterministic replies defined in the Model resource.

Reply ``i`` of ``spec.script`` answers turn ``i`` (turns counted from the
assistant messages already in the request, so it is stateless across
processes); the last entry repeats. ``{{task}}`` and ``{{last_tool_result}}``
in a reply's text are filled from the transcript, so a sample's answer shows
what its tool really returned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from events.errors import PermanentError, TransientError
from functions.ports import ModelReply, ModelRequest, Resource, Usage

__all__ = ["ScriptedModel"]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif block.get("type") == "tool_result":
            parts.append(str(block.get("content", "")))
    return "".join(parts)


def _last_tool_result(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        content = message.get("content")
        if message.get("role") == "user" and isinstance(content, list):
            results = [b for b in content if b.get("type") == "tool_result"]
            if results:
                return "\n".join(str(b.get("content", "")) for b in results)
    return ""


def _opening(messages: Sequence[Mapping[str, Any]]) -> int:
    """Index of this run's task: the last user message that is not tool results.

    Earlier messages are the session's history, whose turns are not this run's.
    """
    for i in range(len(messages) - 1, -1, -1):
        content = messages[i].get("content")
        is_results = isinstance(content, list) and any(
            b.get("type") == "tool_result" for b in content
        )
        if messages[i].get("role") == "user" and not is_results:
            return i
    return 0


class ScriptedModel:
    """A ``Model`` that plays back ``spec.script``."""

    def __init__(self, resource: Resource) -> None:
        self.name = resource["metadata"]["name"]
        self.model_id = resource["spec"].get("model") or "scripted"
        self.script: list[dict[str, Any]] = list(resource["spec"].get("script") or [])
        if not self.script:
            raise PermanentError(f"Model {self.name}: spec.script is empty", reason="InvalidModel")

    def complete(self, request: ModelRequest) -> ModelReply:
        """The scripted reply for this turn."""
        start = _opening(request.messages)
        turn = sum(1 for m in request.messages[start:] if m.get("role") == "assistant")
        entry = self.script[min(turn, len(self.script) - 1)]
        if entry.get("delayMs"):
            time.sleep(int(entry["delayMs"]) / 1000)
        error = entry.get("error")
        if error:
            status, message = (
                int(error.get("status", 500)),
                str(error.get("message", "scripted error")),
            )
            if status in (429, 500, 502, 503, 529):
                raise TransientError(
                    f"scripted model error {status}: {message}", reason="ModelUnavailable"
                )
            raise PermanentError(f"scripted model error {status}: {message}", reason="ModelError")
        task = _text_of(request.messages[start]["content"]) if request.messages else ""
        content: list[dict[str, Any]] = []
        text = str(entry.get("text") or "")
        if text:
            text = text.replace("{{task}}", task).replace(
                "{{last_tool_result}}", _last_tool_result(request.messages)
            )
            content.append({"type": "text", "text": text})
        for i, call in enumerate(entry.get("toolCalls") or []):
            content.append(
                {
                    "type": "tool_use",
                    "id": call.get("id") or f"toolu_s{turn + 1:02d}_{i}",
                    "name": call["name"],
                    "input": call.get("input") or {},
                }
            )
        stop = entry.get("stopReason") or ("tool_use" if entry.get("toolCalls") else "end_turn")
        usage = entry.get("usage") or {}
        prompt = len(request.system) + len(json.dumps(list(request.messages), default=str))
        return ModelReply(
            content=content,
            stop_reason=stop,
            usage=Usage(
                input=int(usage.get("input", prompt // 4 + 1)),
                output=int(
                    usage.get("output", len(text) // 4 + 1 + 20 * len(entry.get("toolCalls") or []))
                ),
            ),
            model=self.model_id,
        )
