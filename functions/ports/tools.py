"""The tool seam: what the model sees of a tool, its calls and results, and the Toolbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from functions.ports.store import Resource, Store

__all__ = ["ToolCall", "ToolContext", "ToolResult", "ToolSpec", "Toolbox"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model sees it."""

    name: str
    description: str
    input_schema: Mapping[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asked for."""

    id: str
    name: str
    input: Mapping[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """What a tool returned; ``is_error`` results go back to the model, not to the run.

    ``pending`` means the result arrives later (a sub-agent run finishing records it).
    """

    content: str
    is_error: bool = False
    pending: bool = False
    # A sub-agent run now holds the call (``{"name", "uid"}``); pending without one means
    # the call waits for a free sub-agent slot and is tried again when one frees.
    delegated_to: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ToolContext:
    """What a tool may know of its caller."""

    run: Resource
    agent: Resource
    idempotency_key: str
    store: Store
    # Every call the model made in this step, in its order (sub-agent limits go by it).
    step_calls: Sequence[ToolCall] = ()


class Toolbox(Protocol):
    """The tools an agent may use: definitions for the model, execution for call_tool."""

    def specs(self, agent: Resource, namespace: str) -> list[ToolSpec]: ...

    def call(self, call: ToolCall, ctx: ToolContext) -> ToolResult: ...
