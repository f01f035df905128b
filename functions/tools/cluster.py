"""Built-in tools for SRE agents: a Pod's status, its Events and its logs, read-only.

Confined like the other built-ins: only the run's own namespace, only Pods (and the
Events about them), never Secrets, names checked before they reach a URL. The cluster is
the Kubernetes store's (on Kubernetes), else ``BATON_TRIGGER_KUBECONFIG`` or
``$KUBECONFIG`` (the one the trigger's watch reads, in the embedded shape). A container's
environment is never shown: it may hold credentials.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, Final

from functions.kube.names import is_name
from functions.ports import NotFound, StoreError, ToolCall, ToolContext, ToolSpec

__all__ = ["CLUSTER_TOOLS", "ClusterToolError"]

MAX_LOG_BYTES: Final = 64 * 1024
MAX_EVENTS: Final = 50


class ClusterToolError(ValueError):
    """What the model asked cannot be read; goes back to it as an error result."""


def _checked_name(value: Any, what: str) -> str:
    name = str(value or "")
    if not is_name(name):
        raise ClusterToolError(f"{what} must be a Kubernetes name, not {name[:80]!r}")
    return name


def _namespace(call: ToolCall, ctx: ToolContext) -> str:
    """The run's namespace: an agent never reads another tenant's Pods."""
    own = str(ctx.run["metadata"].get("namespace", "default"))
    asked = call.input.get("namespace")
    if asked and asked != own:
        raise ClusterToolError(f"only namespace {own!r} is readable from this run, not {asked!r}")
    return own


def _api(ctx: ToolContext) -> Any:
    api = getattr(ctx.store, "api", None)
    if api is not None:
        return api
    from functions.kube.api import KubeAPI, connect

    return KubeAPI(connect(os.environ.get("BATON_TRIGGER_KUBECONFIG")))


def _read(ctx: ToolContext, path: str, query: Mapping[str, str] | None = None) -> Any:
    try:
        return _api(ctx).request("GET", path, query=query)
    except NotFound:
        raise ClusterToolError(f"not found: {path.rsplit('/', 1)[-1]}") from None
    except StoreError as exc:
        raise ClusterToolError(str(exc)) from None


def _container(status: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: status.get(k)
        for k in ("name", "image", "ready", "restartCount", "state", "lastState", "started")
        if k in status
    }


def _pod_status(call: ToolCall, ctx: ToolContext) -> str:
    namespace = _namespace(call, ctx)
    name = _checked_name(call.input.get("name"), "name")
    pod = _read(ctx, f"/api/v1/namespaces/{namespace}/pods/{name}")
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    return json.dumps(
        {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": meta.get("labels") or {},
            "owners": [f"{o['kind']}/{o['name']}" for o in meta.get("ownerReferences") or []],
            "node": spec.get("nodeName"),
            "containers": [
                {"name": c["name"], "image": c.get("image")} for c in spec.get("containers") or []
            ],
            "phase": status.get("phase"),
            "reason": status.get("reason"),
            "message": status.get("message"),
            "conditions": [
                {k: c.get(k) for k in ("type", "status", "reason", "message")}
                for c in status.get("conditions") or []
            ],
            "containerStatuses": [_container(c) for c in status.get("containerStatuses") or []],
            "startTime": status.get("startTime"),
        }
    )


def _pod_events(call: ToolCall, ctx: ToolContext) -> str:
    namespace = _namespace(call, ctx)
    name = _checked_name(call.input.get("name"), "name")
    selector = f"involvedObject.kind=Pod,involvedObject.name={name}"
    listing = _read(ctx, f"/api/v1/namespaces/{namespace}/events", {"fieldSelector": selector})
    events = [
        {
            "type": e.get("type"),
            "reason": e.get("reason"),
            "message": e.get("message"),
            "count": e.get("count"),
            "last": e.get("lastTimestamp") or e.get("eventTime"),
        }
        for e in listing.get("items") or []
    ]
    events.sort(key=lambda e: str(e.get("last") or ""))
    return json.dumps({"count": len(events), "events": events[-MAX_EVENTS:]})


def _pod_logs(call: ToolCall, ctx: ToolContext) -> str:
    namespace = _namespace(call, ctx)
    name = _checked_name(call.input.get("name"), "name")
    try:
        tail = min(max(int(call.input.get("tailLines") or 200), 1), 5000)
    except (TypeError, ValueError):
        raise ClusterToolError("tailLines must be an integer") from None
    query = {"tailLines": str(tail), "limitBytes": str(MAX_LOG_BYTES)}
    if call.input.get("container"):
        query["container"] = _checked_name(call.input["container"], "container")
    if call.input.get("previous"):
        query["previous"] = "true"  # the crashed container's log, not the restarted one's
    path = f"/api/v1/namespaces/{namespace}/pods/{name}/log"
    try:
        return str(_api(ctx).text(path, query, limit=MAX_LOG_BYTES)) or "(no log lines)"
    except NotFound:
        raise ClusterToolError(f"pod {name} not found") from None
    except StoreError as exc:
        raise ClusterToolError(str(exc)) from None


def _as_tool_input_error(run: Callable[[ToolCall, ToolContext], str]) -> Any:
    """A tool whose refusals reach the model as error results (the built-ins' contract)."""

    def wrapped(call: ToolCall, ctx: ToolContext) -> str:
        try:
            return run(call, ctx)
        except ClusterToolError as exc:
            from functions.tools.builtin import ToolInputError

            raise ToolInputError(str(exc)) from None

    return wrapped


def _schema(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": ["name"]}


_POD: Final = {
    "name": {"type": "string", "description": "the Pod's name"},
    "namespace": {"type": "string", "description": "only the run's own namespace"},
}

CLUSTER_TOOLS: Final = (
    (
        ToolSpec(
            "pod_status",
            "A Pod's phase, conditions and container statuses (restarts, waiting reasons such "
            "as CrashLoopBackOff, last termination) in the run's namespace.",
            _schema(_POD),
        ),
        _as_tool_input_error(_pod_status),
    ),
    (
        ToolSpec(
            "pod_events",
            "The Kubernetes Events about a Pod (scheduling, image pulls, probes, back-offs), "
            "oldest first.",
            _schema(_POD),
        ),
        _as_tool_input_error(_pod_events),
    ),
    (
        ToolSpec(
            "pod_logs",
            "The last lines of a Pod's container log; previous=true for the container that "
            "crashed before the current restart.",
            _schema(
                {
                    **_POD,
                    "container": {"type": "string"},
                    "previous": {"type": "boolean"},
                    "tailLines": {"type": "integer", "minimum": 1, "maximum": 5000},
                }
            ),
        ),
        _as_tool_input_error(_pod_logs),
    ),
)
