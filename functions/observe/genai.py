"""Spans for model and tool calls, named and attributed as the OpenTelemetry GenAI
semantic conventions say (``gen_ai.operation.name``, ``gen_ai.request.model``,
``gen_ai.usage.input_tokens``, ``gen_ai.tool.name``, ...).

A no-op unless tracing is on (``functions.tracing.enabled``): the OpenTelemetry API is
imported only then. Prompts and tool inputs are never put on a span: they may hold what
a user would not want in a tracing backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from functions import tracing
from functions.ports import ModelReply, ModelRequest, ToolCall, ToolResult

__all__ = ["chat_reply", "chat_span", "tool_result", "tool_span"]


@contextmanager
def chat_span(provider: str, model: str, request: ModelRequest) -> Iterator[Any]:
    """A CLIENT span ``chat MODEL`` around one model call (None when tracing is off)."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": request.max_tokens,
    }
    with _span(f"chat {model}", "CLIENT", attributes) as span:
        yield span


def chat_reply(span: Any, reply: ModelReply) -> None:
    """The reply's model, finish reason and token counts on ``span``."""
    if span is None:
        return
    usage = reply.usage
    span.set_attribute("gen_ai.response.finish_reasons", [reply.stop_reason])
    if reply.model:
        span.set_attribute("gen_ai.response.model", reply.model)
    span.set_attribute("gen_ai.usage.input_tokens", usage.input)
    span.set_attribute("gen_ai.usage.output_tokens", usage.output)
    if usage.cache_read:
        span.set_attribute("gen_ai.usage.cache_read.input_tokens", usage.cache_read)
    if usage.cache_creation:
        span.set_attribute("gen_ai.usage.cache_creation.input_tokens", usage.cache_creation)


@contextmanager
def tool_span(call: ToolCall) -> Iterator[Any]:
    """An INTERNAL span ``execute_tool NAME`` around one tool call (None when tracing is off)."""
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.name,
        "gen_ai.tool.call.id": call.id,
    }
    with _span(f"execute_tool {call.name}", "INTERNAL", attributes) as span:
        yield span


def tool_result(span: Any, result: ToolResult) -> None:
    """Whether the tool answered with an error, on ``span``."""
    if span is not None and result.is_error:
        span.set_attribute("error.type", "tool_error")


@contextmanager
def _span(name: str, kind: str, attributes: Mapping[str, Any]) -> Iterator[Any]:
    """A span of ``kind`` (a ``SpanKind`` name) whose failure names the error's reason."""
    if not tracing.enabled():
        yield None
        return
    from opentelemetry import trace

    tracer = trace.get_tracer("baton")
    span_kind = trace.SpanKind[kind]
    with tracer.start_as_current_span(name, kind=span_kind, attributes=attributes) as span:
        try:
            yield span
        except Exception as exc:
            span.set_attribute("error.type", getattr(exc, "reason", type(exc).__name__))
            raise
