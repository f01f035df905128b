"""On Knative, each AgentTrigger becomes the Knative objects that feed the trigger function.

- ``kubernetes``: an ApiServerSource (Resource mode) watching the resource as the
  trigger's ``serviceAccountName``, its events marked with ``batontrigger``;
- ``schedule``: a PingSource with the cron and time zone, marked the same way;
- ``cloudEvent``: a Trigger on the namespace's Broker with the same exact-match filter.

Sources send straight to the trigger Service (``BATON_TRIGGER_SINK``): they and the
Trigger live in the AgentTrigger's namespace, owned by it, so the garbage collector
removes them with it (and the trigger function deletes them when it sees the delete,
for clusters where that is late). A ``nats`` source has no Knative object: a NATS
JetStream channel or a KafkaSource-like bridge is the platform's business.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Final, Protocol

from functions.ports import Deps, Resource
from functions.trigger.matching import TRIGGER_EXTENSION, trigger_key
from functions.trigger.spec import CompiledTrigger, owner_reference

__all__ = ["GENERATED", "ClusterObjects", "delete_objects", "objects_for", "reconcile_objects"]

SOURCES: Final = "sources.knative.dev/v1"
EVENTING: Final = "eventing.knative.dev/v1"
GENERATED: Final = ((SOURCES, "ApiServerSource"), (SOURCES, "PingSource"), (EVENTING, "Trigger"))
UID_LABEL: Final = "baton.dev/trigger-uid"
DEFAULT_WATCHER: Final = "baton-trigger-watcher"


class ClusterObjects(Protocol):
    """Create-or-replace, list and delete Knative objects (the Kubernetes store has one)."""

    trigger_sink: str | None

    def apply(self, obj: Resource, *, dry_run: bool = False) -> Resource: ...

    def list(
        self, api_version: str, kind: str, namespace: str, labels: Mapping[str, str]
    ) -> list[Any]: ...

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None: ...


def generated_name(trigger_name: str) -> str:
    """The name of a trigger's generated object (one per kind)."""
    return f"baton-trigger-{trigger_name}"[:63].rstrip("-.")


def _metadata(trigger: Resource) -> dict[str, Any]:
    meta = trigger["metadata"]
    return {
        "name": generated_name(str(meta["name"])),
        "namespace": meta["namespace"],
        "labels": {
            "app.kubernetes.io/part-of": "baton",
            "baton.dev/trigger": str(meta["name"])[:63],
            UID_LABEL: str(meta.get("uid", "")),
        },
        "ownerReferences": [owner_reference(meta, block_deletion=True)],
    }


def _namespace_selector(namespaces: list[str], own: str) -> dict[str, Any] | None:
    if not namespaces or namespaces == [own]:
        return None
    if "*" in namespaces:
        return {}
    return {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}
        ]
    }


def objects_for(trigger: Resource, compiled: CompiledTrigger, sink: str) -> list[Resource]:
    """The Knative objects that feed ``trigger`` (pure: nothing is written)."""
    meta = trigger["metadata"]
    spec = dict(compiled.source_spec)
    marker = {"extensions": {TRIGGER_EXTENSION: trigger_key(meta["namespace"], meta["name"])}}
    if compiled.source == "kubernetes":
        resource: dict[str, Any] = {"apiVersion": spec["apiVersion"], "kind": spec["kind"]}
        labels = (spec.get("labelSelector") or {}).get("matchLabels")
        if labels:
            resource["selector"] = {"matchLabels": dict(labels)}
        source: dict[str, Any] = {
            "mode": "Resource",
            "serviceAccountName": spec.get("serviceAccountName") or DEFAULT_WATCHER,
            "resources": [resource],
            "ceOverrides": marker,
            "sink": {"uri": sink},
        }
        selector = _namespace_selector(list(spec.get("namespaces") or []), meta["namespace"])
        if selector is not None:
            source["namespaceSelector"] = selector
        return [{"apiVersion": SOURCES, "kind": "ApiServerSource",
                 "metadata": _metadata(trigger), "spec": source}]  # fmt: skip
    if compiled.source == "schedule":
        data = {"schedule": spec["cron"], "timeZone": spec.get("timeZone") or "UTC"}
        ping: dict[str, Any] = {
            "schedule": spec["cron"],
            "timezone": spec.get("timeZone") or "UTC",
            "contentType": "application/json",
            "data": json.dumps(data),
            "ceOverrides": marker,
            "sink": {"uri": sink},
        }
        return [{"apiVersion": SOURCES, "kind": "PingSource",
                 "metadata": _metadata(trigger), "spec": ping}]  # fmt: skip
    if compiled.source == "cloudEvent":
        attributes = {k: str(spec[k]) for k in ("type", "source", "subject") if spec.get(k)}
        attributes.update(spec.get("extensions") or {})
        knative_trigger = {
            "broker": spec.get("broker") or "default",
            "filter": {"attributes": attributes},
            "subscriber": {"uri": sink},
            "delivery": {"retry": 5, "backoffPolicy": "exponential", "backoffDelay": "PT0.2S"},
        }
        return [{"apiVersion": EVENTING, "kind": "Trigger",
                 "metadata": _metadata(trigger), "spec": knative_trigger}]  # fmt: skip
    return []


def _owned(objects: ClusterObjects, trigger: Resource) -> list[tuple[str, str, str]]:
    meta = trigger["metadata"]
    found = []
    for api_version, kind in GENERATED:
        for obj in objects.list(api_version, kind, meta["namespace"], {UID_LABEL: meta["uid"]}):
            found.append((api_version, kind, str(obj["metadata"]["name"])))
    return found


def reconcile_objects(deps: Deps, trigger: Resource, compiled: CompiledTrigger | None) -> int:
    """Make the trigger's Knative objects what its spec says; how many were written."""
    objects: ClusterObjects | None = getattr(deps.store, "cluster_objects", None)
    if objects is None or not objects.trigger_sink:
        return 0  # not on Knative: the runtime's own feeds serve the triggers
    wanted = objects_for(trigger, compiled, objects.trigger_sink) if compiled else []
    for obj in wanted:
        objects.apply(obj)
    keep: Collection[tuple[str, str, str]] = {
        (o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in wanted
    }
    for api_version, kind, name in _owned(objects, trigger):
        if (api_version, kind, name) not in keep:
            objects.delete(api_version, kind, trigger["metadata"]["namespace"], name)
    return len(wanted)


def delete_objects(deps: Deps, trigger: Resource) -> None:
    """Delete a deleted trigger's Knative objects (the garbage collector would, later)."""
    objects: ClusterObjects | None = getattr(deps.store, "cluster_objects", None)
    if objects is None or not trigger["metadata"].get("uid"):
        return
    for api_version, kind, name in _owned(objects, trigger):
        objects.delete(api_version, kind, trigger["metadata"]["namespace"], name)
