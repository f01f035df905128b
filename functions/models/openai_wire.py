"""Translation between baton's ModelRequest/ModelReply and OpenAI's Chat Completions shape.

baton's transcript is in Anthropic Messages shape (content blocks: text, tool_use,
tool_result, thinking). Here it becomes Chat Completions messages: the system prompt first,
an assistant turn's tool_use blocks as ``tool_calls``, each tool_result as its own ``tool``
message right after the assistant turn that asked (as the API requires), thinking dropped.
The reply comes back as content blocks and a stop reason of baton's one vocabulary, so
``functions.run.stop_reasons.classify_stop`` decides for every provider; usage counts each
prompt token once (cached tokens apart from the rest, as Anthropic reports them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from events.errors import PermanentError
from functions.models.api_errors import reply_invalid
from functions.models.model_settings import DEFAULT_TIMEOUT_SECONDS, ModelSettings, model_name
from functions.ports import ModelReply, ModelRequest, Resource, ToolSpec, Usage

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "STOP_REASONS",
    "OpenAISettings",
    "build_params",
    "chat_messages",
    "reply_from_chunks",
    "reply_from_completion",
]

# finish_reason -> baton's stop reason; anything else passes through and classify_stop
# fails the run with UnknownStopReason, naming it.
STOP_REASONS: Final = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}
MAX_TOKENS_FIELDS: Final = ("max_completion_tokens", "max_tokens")


@dataclass(frozen=True)
class OpenAISettings(ModelSettings):
    """What a Model resource's spec asks of each call."""

    organization: str | None = None
    project: str | None = None
    max_tokens_field: str = "max_completion_tokens"

    @classmethod
    def from_resource(cls, resource: Resource) -> OpenAISettings:
        """Read the spec of a ``Model`` resource (already schema-valid)."""
        spec = resource.get("spec") or {}
        common = cls.common_fields(resource)
        if (spec.get("thinking") or {}).get("enabled"):
            raise PermanentError(
                f"Model {model_name(resource)}: thinking is not supported by provider openai;"
                " remove spec.thinking",
                reason="ModelInvalid",
            )
        options = spec.get("openai") or {}
        return cls(
            **common,
            organization=options.get("organization") or None,
            project=options.get("project") or None,
            max_tokens_field=str(options.get("maxTokensField") or MAX_TOKENS_FIELDS[0]),
        )


def build_params(settings: OpenAISettings, request: ModelRequest) -> dict[str, Any]:
    """Keyword arguments for ``chat.completions.create`` (request left untouched)."""
    params: dict[str, Any] = {
        "model": settings.model,
        "messages": chat_messages(request.system, request.messages),
        # The Model's maxTokens is the operator's decision; the request's is the default.
        settings.max_tokens_field: settings.max_tokens or request.max_tokens,
    }
    if request.tools:
        params["tools"] = _tool_definitions(request.tools)
    if settings.temperature is not None:
        params["temperature"] = settings.temperature
    if settings.stop_sequences:
        params["stop"] = list(settings.stop_sequences)
    return params


def _tool_definitions(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": dict(t.input_schema),
            },
        }
        for t in tools
    ]


def chat_messages(system: str, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The transcript as Chat Completions messages, system prompt first."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        content = message.get("content")
        if message.get("role") == "assistant":
            out.append(_assistant(content))
        else:
            out.extend(_user(content))
    return out


def _blocks(content: Any) -> list[Mapping[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(b.get("text", "")) for b in content or [] if b.get("type") == "text")


def _assistant(content: Any) -> dict[str, Any]:
    blocks = _blocks(content)
    message: dict[str, Any] = {"role": "assistant", "content": _text(blocks) or None}
    calls = [
        {
            "id": b["id"],
            "type": "function",
            "function": {"name": b["name"], "arguments": json.dumps(b.get("input") or {})},
        }
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    if calls:
        message["tool_calls"] = calls
    return message


def _user(content: Any) -> Iterator[dict[str, Any]]:
    blocks = _blocks(content)
    for block in blocks:
        if block.get("type") == "tool_result":
            result = _text(block.get("content"))
            # Chat Completions has no error flag on a tool message: say it in the text.
            text = f"Error: {result}" if block.get("is_error") else result
            yield {"role": "tool", "tool_call_id": block["tool_use_id"], "content": text}
    text = _text(blocks)
    if text or not blocks:
        yield {"role": "user", "content": text}


def reply_from_completion(completion: Any) -> ModelReply:
    """A ModelReply from a ChatCompletion."""
    if not completion.choices:
        raise reply_invalid()
    choice = completion.choices[0]
    message = choice.message
    calls = [
        (call.id, call.function.name, call.function.arguments) for call in message.tool_calls or []
    ]
    return _reply(
        message.content or getattr(message, "refusal", None) or "",
        calls,
        str(choice.finish_reason or ""),
        completion.usage,
        str(completion.model or ""),
    )


def reply_from_chunks(chunks: Iterable[Any]) -> ModelReply:
    """A ModelReply from a stream of ChatCompletionChunks (the same as the plain reply).

    Deltas are joined in one pass: text in order, each tool call's id, name and argument
    pieces by its index; the usage arrives in a last chunk without choices.
    """
    text: list[str] = []
    refusal: list[str] = []
    calls: dict[int, list[Any]] = {}
    finish, usage, model, seen = "", None, "", False
    for chunk in chunks:
        model = chunk.model or model
        usage = chunk.usage or usage
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            seen = True
            delta = choice.delta
            text.append(delta.content or "")
            refusal.append(getattr(delta, "refusal", None) or "")
            for piece in delta.tool_calls or []:
                slot = calls.setdefault(piece.index, ["", "", []])
                slot[0] = piece.id or slot[0]
                if piece.function is not None:
                    slot[1] += piece.function.name or ""
                    slot[2].append(piece.function.arguments or "")
            finish = choice.finish_reason or finish
    if not seen:
        raise reply_invalid()
    joined = [(cid, name, "".join(args)) for cid, name, args in (calls[i] for i in sorted(calls))]
    return _reply("".join(text) or "".join(refusal), joined, finish, usage, model)


def _reply(
    text: str, calls: Sequence[tuple[str, str, str | None]], finish: str, usage: Any, model: str
) -> ModelReply:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for call_id, name, arguments in calls:
        content.append(
            {
                "type": "tool_use",
                "id": call_id,
                "name": name,
                "input": _arguments(arguments, truncated=finish == "length"),
            }
        )
    return ModelReply(
        content=content,
        stop_reason=STOP_REASONS.get(finish, finish),
        usage=_usage(usage),
        model=model,
    )


def _arguments(raw: str | None, *, truncated: bool) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        if truncated:  # cut off by maxTokens: classify_stop names that, a retry would not help
            return {}
        raise reply_invalid() from None
    if not isinstance(value, dict):
        raise reply_invalid()
    return value


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    details = getattr(usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0)
    prompt = int(usage.prompt_tokens or 0)
    return Usage(
        input=max(prompt - cached, 0),
        output=int(usage.completion_tokens or 0),
        cache_read=cached,
    )
