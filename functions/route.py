"""route: a published request (or a chat message) becomes an AgentRun.

The run's name is derived from the request's idempotencyKey, or else from the
CloudEvent's source and id, so a redelivered or re-sent request converges on
one run. Nothing is emitted: the store's watch announces the new run.

A request in a session (sessionKey; a chat thread always has one) that has a
server-mode run still going is that run's next input instead: journaled once per
request (the same origin as the name: idempotencyKey, or source and id), and
``run.input.received`` wakes the run when it is Serving (a Running one takes it
when its current exchange ends).
"""

from __future__ import annotations

import hashlib
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.catalogue import validate_data
from events.envelope import CloudEvent, data_of
from functions.ports import API_VERSION, Conflict, Deps, Invalid, Resource
from functions.run import session
from functions.run.status import KIND, is_terminal
from functions.run.step import follow_up

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
    for field in (
        "sessionKey",
        "idempotencyKey",
        "overrides",
        "timeout",
        "routing",
        "cleanup",
        "mode",
        "idleTTL",
    ):
        if data.get(field) is not None:
            spec[field] = data[field]
    if event.get_type() == types.CHANNEL_MESSAGE:
        routing = spec.setdefault("routing", {})
        spec.setdefault("sessionKey", f"{routing.get('channel', '')}:{routing.get('thread', '')}")
    return spec


def _session_run(deps: Deps, namespace: str, key: str) -> Resource | None:
    """The oldest server-mode run of session ``key`` that still takes input."""
    open_runs = [
        r
        for r in deps.store.list(KIND, namespace)
        if r["spec"].get("sessionKey") == key and session.is_server(r) and not is_terminal(r)
    ]
    open_runs.sort(key=lambda r: r["metadata"].get("creationTimestamp", ""))
    return open_runs[0] if open_runs else None


def _as_input(
    event: BaseCloudEvent, deps: Deps, data: dict[str, Any], spec: dict[str, Any], name: str
) -> list[CloudEvent] | None:
    """Deliver the request to its session's Serving run; None when there is none to take it."""
    namespace = data.get("namespace") or "default"
    serving = _session_run(deps, namespace, spec["sessionKey"])
    if serving is None:
        return None
    if serving["metadata"]["name"] == name:
        return []  # this very request created the run: a redelivery, not new input
    origin = data.get("idempotencyKey") or f"{event.get_source()}#{event.get_id()}"
    result = session.receive(deps, serving, str(data["task"]), origin, data.get("routing"))
    if result is None:
        return None  # it ended meanwhile: this request starts a new run
    return follow_up(deps, result)


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Create the AgentRun a request asks for (once), or hand it to its session's run."""
    data = data_of(event)
    validate_data(event.get_type(), data)
    spec = _spec(event, data)
    name = run_name_for(event, data)
    if spec.get("sessionKey"):
        delivered = _as_input(event, deps, data, spec, name)
        if delivered is not None:
            return delivered
    run = {
        "apiVersion": API_VERSION,
        "kind": "AgentRun",
        "metadata": {
            "name": name,
            "namespace": data.get("namespace") or "default",
            "labels": {"baton.dev/agent": str(data["agent"])[:63]},
            "annotations": {
                "baton.dev/requested-by": f"{event.get_source()}#{event.get_id()}"[:250]
            },
        },
        "spec": spec,
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
