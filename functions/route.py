"""route: a published request (or a chat message) becomes an AgentRun.

The run's name is derived from the request's idempotencyKey, or else from the
CloudEvent's source and id, so a redelivered or re-sent request converges on
one run. Nothing is emitted: the store's watch announces the new run.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.catalogue import validate_data
from events.envelope import CloudEvent, data_of
from functions.ports import API_VERSION, Conflict, Deps, Invalid

__all__ = ["handle", "run_name_for"]

NAME = "route"


def run_name_for(event: BaseCloudEvent, data: dict[str, Any]) -> str:
    """A DNS-safe run name that is the same for every delivery of the same request."""
    basis = data.get("idempotencyKey") or f"{event.get_source()}\n{event.get_id()}"
    digest = hashlib.sha256(str(basis).encode()).hexdigest()[:16]
    agent = str(data["agent"])[:40].rstrip("-")
    return f"{agent}-{digest}"


def _spec(event: BaseCloudEvent, data: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"agentRef": {"name": data["agent"]}, "task": data["task"]}
    for field in ("sessionKey", "idempotencyKey", "overrides", "timeout", "routing", "cleanup"):
        if data.get(field) is not None:
            spec[field] = data[field]
    if event.get_type() == types.CHANNEL_MESSAGE:
        routing = spec.setdefault("routing", {})
        spec.setdefault("sessionKey", f"{routing.get('channel', '')}:{routing.get('thread', '')}")
    return spec


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Create the AgentRun a request asks for (once, however often it arrives)."""
    data = data_of(event)
    validate_data(event.get_type(), data)
    run = {
        "apiVersion": API_VERSION,
        "kind": "AgentRun",
        "metadata": {
            "name": run_name_for(event, data),
            "namespace": data.get("namespace") or "default",
            "labels": {"baton.dev/agent": str(data["agent"])[:63]},
            "annotations": {
                "baton.dev/requested-by": f"{event.get_source()}#{event.get_id()}"[:250]
            },
        },
        "spec": _spec(event, data),
    }
    try:
        deps.store.create(run)
    except Conflict:
        pass  # the same request again: the run exists already
    except Invalid as exc:
        from events.errors import PermanentError

        raise PermanentError(
            f"{event.get_type()} {event.get_id()}: {exc}", reason="InvalidRequest"
        ) from exc
    return []
