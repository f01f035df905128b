"""The seams between transitions and the world: Store, Model, Toolbox, Clock, Channels.

Transitions depend on these Protocols only; adapters (SQLite, Kubernetes,
Anthropic, MCP, ...) implement them at the edge and are wired in by a factory.
Resources are plain Kubernetes-shaped dicts, the same YAML in every shape. Each seam has
its module (``store``, ``model``, ``tools``); import them from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from functions.ports.model import (
    Model,
    ModelFactory,
    ModelReply,
    ModelRequest,
    ModelSwitch,
    Usage,
)
from functions.ports.store import (
    API_VERSION,
    GROUP,
    VERSION,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    Resource,
    Store,
    StoreError,
    WatchEvent,
)
from functions.ports.tools import Toolbox, ToolCall, ToolContext, ToolResult, ToolSpec

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "Channels",
    "Clock",
    "Conflict",
    "Deps",
    "Expired",
    "Invalid",
    "Model",
    "ModelFactory",
    "ModelReply",
    "ModelRequest",
    "ModelSwitch",
    "NotFound",
    "Resource",
    "Store",
    "StoreError",
    "ToolCall",
    "ToolContext",
    "ToolResult",
    "ToolSpec",
    "Toolbox",
    "Usage",
    "WatchEvent",
]


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
