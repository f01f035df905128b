"""The seams between transitions and the world: Store, Model, Toolbox, Clock.

Transitions depend on these Protocols only; adapters (SQLite, Kubernetes,
Anthropic, MCP, ...) implement them at the edge and are wired in by a factory.
Resources are plain Kubernetes-shaped dicts, the same YAML in every shape.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from events.errors import PermanentError

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "Channels",
    "Clock",
    "Conflict",
    "Deps",
    "Invalid",
    "Model",
    "ModelFactory",
    "ModelReply",
    "ModelRequest",
    "ModelSwitch",
    "NotFound",
    "Resource",
    "Store",
    "ToolCall",
    "ToolContext",
    "ToolResult",
    "ToolSpec",
    "Toolbox",
    "Usage",
    "WatchEvent",
]

Resource = dict[str, Any]

GROUP = "baton.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class StoreError(Exception):
    """Root of the store's errors; each maps to the HTTP status an API server gives."""

    status = 500


class NotFound(StoreError):
    """No such resource (HTTP 404)."""

    status = 404


class Conflict(StoreError):
    """A precondition failed: stale resourceVersion or the name exists (HTTP 409)."""

    status = 409


class Invalid(PermanentError, StoreError):
    """The resource does not match its CRD schema (HTTP 422); ``field`` names the path.

    Permanent: writing the same object again cannot succeed.
    """

    status = 422
    reason = "Invalid"

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class WatchEvent:
    """One change seen by a watch, as the API server reports it."""

    type: Literal["ADDED", "MODIFIED", "DELETED"]
    object: Resource


class Store(Protocol):
    """Kubernetes-shaped resource store with optimistic concurrency and a run journal.

    ``kind`` is the resource kind (``AgentRun``, ``Agent``, ``Model``, ``MCPServer``).
    Writes take the object with ``metadata.resourceVersion`` as read; a
    stale one raises ``Conflict``. ``update`` writes spec/metadata (bumps
    ``metadata.generation`` when spec changes), ``update_status`` writes status only.
    """

    def create(self, obj: Resource) -> Resource: ...

    def get(self, kind: str, namespace: str, name: str) -> Resource: ...

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: Mapping[str, str] | None = None,
    ) -> builtins.list[Resource]: ...

    def update(self, obj: Resource) -> Resource: ...

    def update_status(self, obj: Resource) -> Resource: ...

    def commit(
        self, obj: Resource, journal: Mapping[str, Mapping[str, Any]] | None = None
    ) -> Resource:
        """Write ``obj``'s status and append ``journal`` (each key once) as one change.

        Conflict (stale resourceVersion) writes nothing of the status; journal entries
        are keyed, so a retry that decides again writes the same ones.
        """
        ...

    def delete(self, kind: str, namespace: str, name: str) -> None: ...

    def watch(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        since: str | None = None,
        timeout: float | None = None,
        changes: Collection[str] | None = None,
    ) -> Iterator[WatchEvent]:
        """Changes after ``since``; ``changes`` keeps only those types (ADDED, ...)."""
        ...

    def append_journal(self, run: Resource, key: str, entry: Mapping[str, Any]) -> bool:
        """Record ``entry`` under ``key`` for the run once; False if the key was taken."""
        ...

    def read_journal(self, run: Resource) -> builtins.list[tuple[str, dict[str, Any]]]:
        """The run's journal in write order as (key, entry) pairs."""
        ...


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


class Clock(Protocol):
    """Wall time in seconds since the epoch (injected so tests can move it)."""

    def now(self) -> float: ...


class Channels(Protocol):
    """Chat platforms an answer can be posted to (Slack, Discord, Telegram, a signed webhook).

    ``routing`` is the run's ``spec.routing`` {channel, account, thread, replyTo}. Raises
    ``TransientError`` (rate limited, platform down) or ``PermanentError`` (a reason a
    person can act on: bad token, unknown channel, expired interaction).
    """

    def post(self, routing: Mapping[str, Any], text: str, idempotency_key: str) -> None: ...


@dataclass(frozen=True)
class Deps:
    """Everything a transition may touch; built once per process by a factory."""

    store: Store
    models: ModelFactory
    tools: Toolbox
    clock: Clock
    channels: Channels | None = None
