"""The resource store seam: Kubernetes-shaped resources, their errors, watches and journal."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from events.errors import PermanentError

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "Conflict",
    "Expired",
    "Invalid",
    "NotFound",
    "Resource",
    "Store",
    "StoreError",
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


class Expired(StoreError):
    """A watch asked for a resourceVersion the change log no longer holds (HTTP 410 Gone).

    Start over: list, then watch from the list's newest resourceVersion.
    """

    status = 410


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
        """Changes after ``since``; ``changes`` keeps only those types (ADDED, ...).

        Raises ``Expired`` when ``since`` is older than the change log holds.
        """
        ...

    def append_journal(self, run: Resource, key: str, entry: Mapping[str, Any]) -> bool:
        """Record ``entry`` under ``key`` for the run once; False if the key was taken."""
        ...

    def read_journal(self, run: Resource) -> builtins.list[tuple[str, dict[str, Any]]]:
        """The run's journal in write order as (key, entry) pairs."""
        ...
