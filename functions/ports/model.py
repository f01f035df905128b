"""The model seam: one call's request and reply, usage, failover switches, and the factory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from functions.ports.store import Resource
from functions.ports.tools import ToolCall, ToolSpec

__all__ = ["Model", "ModelFactory", "ModelReply", "ModelRequest", "ModelSwitch", "Usage"]


@dataclass(frozen=True)
class Usage:
    """Tokens of one model reply."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_creation: int = 0


@dataclass(frozen=True)
class ModelRequest:
    """One model call: the transcript so far in Anthropic Messages shape."""

    system: str
    messages: Sequence[Mapping[str, Any]]
    tools: Sequence[ToolSpec] = ()
    max_tokens: int = 1024
    idempotency_key: str = ""


@dataclass(frozen=True)
class ModelSwitch:
    """A Model (resource name) that could not answer, so the next one was asked; and why."""

    model: str
    reason: str
    message: str


@dataclass(frozen=True)
class ModelReply:
    """One model reply: content blocks in Anthropic Messages shape plus usage.

    ``answered_by`` names the Model resource that replied when the call went through a
    failover chain, and ``switches`` the ones tried before it (empty without failover).
    """

    content: list[dict[str, Any]]
    stop_reason: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    answered_by: str = ""
    switches: tuple[ModelSwitch, ...] = ()

    @property
    def text(self) -> str:
        """The concatenated text blocks."""
        return "".join(b.get("text", "") for b in self.content if b.get("type") == "text")

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool_use blocks as tool calls, in order."""
        return [
            ToolCall(id=b["id"], name=b["name"], input=b.get("input") or {})
            for b in self.content
            if b.get("type") == "tool_use"
        ]


class Model(Protocol):
    """A language model provider bound to one Model resource."""

    def complete(self, request: ModelRequest) -> ModelReply: ...


class ModelFactory(Protocol):
    """Builds the Model for a Model resource (API keys resolved here, never logged)."""

    def for_resource(self, model: Resource) -> Model: ...

    def for_models(self, models: Sequence[Resource]) -> Model:
        """One Model over an ordered list: the first, failing over to the next (see failover)."""
        ...

    def cost(self, model: Resource, usage: Mapping[str, int]) -> str:
        """The USD cost estimate of ``usage`` under the Model's pricing, as a decimal string."""
        ...
