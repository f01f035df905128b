"""Translation between baton's ModelRequest/ModelReply and the Anthropic Messages wire shape.

Pure functions over plain data: the Model resource's spec becomes ``AnthropicSettings``, a
request becomes the keyword arguments of ``messages.create``, and the SDK's Message becomes
a ModelReply whose content blocks are plain dicts that can be sent back to the API verbatim
(thinking blocks keep their signature, redacted_thinking its data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from functions.models.model_settings import DEFAULT_TIMEOUT_SECONDS, ModelSettings
from functions.ports import ModelReply, ModelRequest, Resource, ToolSpec, Usage

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "EPHEMERAL",
    "AnthropicSettings",
    "build_params",
    "reply_from_message",
]

EPHEMERAL: Final = {"type": "ephemeral"}
# Blocks the API refuses a cache_control on.
_UNCACHEABLE: Final = frozenset({"thinking", "redacted_thinking"})


@dataclass(frozen=True)
class AnthropicSettings(ModelSettings):
    """What a Model resource's spec asks of each call."""

    thinking_budget: int | None = None
    on_max_tokens: str = "fail"

    @classmethod
    def from_resource(cls, resource: Resource) -> AnthropicSettings:
        """Read the spec of a ``Model`` resource (already schema-valid)."""
        spec = resource.get("spec") or {}
        thinking = spec.get("thinking") or {}
        return cls(
            **cls.common_fields(resource),
            thinking_budget=int(thinking.get("budgetTokens") or 1024)
            if thinking.get("enabled")
            else None,
            on_max_tokens=str(spec.get("onMaxTokens") or "fail"),
        )


def build_params(settings: AnthropicSettings, request: ModelRequest) -> dict[str, Any]:
    """Keyword arguments for ``messages.create``/``messages.stream`` (request left untouched)."""
    params: dict[str, Any] = {
        "model": settings.model,
        # The Model's maxTokens is the operator's decision; the request's is the default.
        "max_tokens": settings.max_tokens or request.max_tokens,
        "messages": _with_cache_breakpoint(request.messages),
    }
    if request.system:
        # Breakpoints on the system prompt, the last tool and the newest turn: every later
        # turn of a run re-reads the prefix from the cache instead of paying for it again.
        params["system"] = [{"type": "text", "text": request.system, "cache_control": EPHEMERAL}]
    if request.tools:
        params["tools"] = _tool_definitions(request.tools)
    if settings.thinking_budget is not None:
        params["thinking"] = {"type": "enabled", "budget_tokens": settings.thinking_budget}
    elif settings.temperature is not None:
        # SDK 2.x dropped the typed argument, so it rides in the body as the API reads it;
        # extended thinking only accepts the default temperature, so it is sent without.
        params["extra_body"] = {"temperature": settings.temperature}
    if settings.stop_sequences:
        params["stop_sequences"] = list(settings.stop_sequences)
    return params


def _tool_definitions(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    definitions: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "input_schema": dict(t.input_schema)}
        for t in tools
    ]
    definitions[-1]["cache_control"] = EPHEMERAL
    return definitions


def _with_cache_breakpoint(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The messages with a cache breakpoint on the last block of the last turn (copied)."""
    out: list[Mapping[str, Any]] = list(messages)
    if not out:
        return out
    last = out[-1]
    content = last.get("content")
    if isinstance(content, str):
        blocks: list[dict[str, Any]] = [{"type": "text", "text": content}]
    elif isinstance(content, list) and content:
        blocks = [*content[:-1], dict(content[-1])]
    else:
        return out
    tail = blocks[-1]
    if tail.get("type") in _UNCACHEABLE or "cache_control" in tail:
        return out
    tail["cache_control"] = EPHEMERAL
    out[-1] = {**last, "content": blocks}
    return out


def reply_from_message(message: Any) -> ModelReply:
    """A ModelReply from the SDK's Message (streamed or not, the same result)."""
    usage = message.usage
    return ModelReply(
        content=[_block(b) for b in message.content],
        stop_reason=str(message.stop_reason or ""),
        usage=Usage(
            input=int(usage.input_tokens or 0),
            output=int(usage.output_tokens or 0),
            cache_read=int(usage.cache_read_input_tokens or 0),
            cache_creation=int(usage.cache_creation_input_tokens or 0),
        ),
        model=str(message.model or ""),
    )


def _block(block: Any) -> dict[str, Any]:
    # Top-level None fields are the SDK's unset optionals (citations, caller); the stream
    # accumulator adds parsed_output. Dropping both makes streamed == non-streamed and
    # leaves exactly what the API accepts back.
    data: dict[str, Any] = block.to_dict(mode="json")
    return {k: v for k, v in data.items() if v is not None and k != "parsed_output"}
