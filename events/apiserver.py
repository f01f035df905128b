"""Resource change events in the exact shape of Knative's ApiServerSource.

Knative's adapter sets ``subject`` to the object's self link and copies kind,
name and namespace into extensions so Triggers can filter on them. Resource
mode carries the whole object as data; Reference mode only a reference. baton's
own store watch emits the same events, so validate serves both unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.envelope import CloudEvent, data_of, make_event
from events.errors import MalformedEvent

__all__ = ["EMBEDDED_SOURCE", "is_reference", "object_of", "resource_event", "self_link"]

# Where embedded and NATS watches say the events come from (ApiServerSource uses
# the API server's URL).
EMBEDDED_SOURCE: Final = "baton://store"

_RESOURCE_TYPES: Final = {
    "ADDED": types.RESOURCE_ADD,
    "MODIFIED": types.RESOURCE_UPDATE,
    "DELETED": types.RESOURCE_DELETE,
}
_REF_TYPES: Final = {
    "ADDED": types.REF_ADD,
    "MODIFIED": types.REF_UPDATE,
    "DELETED": types.REF_DELETE,
}


def _plural(kind: str) -> str:
    lower = kind.lower()
    return lower + ("es" if lower.endswith("s") else "s")


def self_link(obj: Mapping[str, Any]) -> str:
    """``/apis/<group>/<version>/namespaces/<ns>/<plural>/<name>`` as Kubernetes links it."""
    api_version = obj.get("apiVersion", "v1")
    prefix = "/api/" if "/" not in api_version else "/apis/"
    meta = obj.get("metadata") or {}
    ns = f"namespaces/{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{prefix}{api_version}/{ns}{_plural(obj.get('kind', ''))}/{meta.get('name', '')}"


def resource_event(
    change: str,
    obj: Mapping[str, Any],
    *,
    source: str = EMBEDDED_SOURCE,
    reference: bool = False,
    id_: str | None = None,
) -> CloudEvent:
    """The ApiServerSource event for one watch change (``ADDED``/``MODIFIED``/``DELETED``).

    The id is the object's uid, resourceVersion and the change (``id_`` overrides it), so
    a watch that replays a change after a restart repeats its id and buses drop it.
    """
    table = _REF_TYPES if reference else _RESOURCE_TYPES
    if change not in table:
        raise ValueError(f"unknown watch change {change!r}")
    meta = obj.get("metadata") or {}
    data: dict[str, Any]
    if reference:
        data = {
            "kind": obj.get("kind"),
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "apiVersion": obj.get("apiVersion"),
        }
    else:
        data = dict(obj)
    return make_event(
        table[change],
        source,
        data,
        id_=id_ or _change_id(change, meta),
        subject=self_link(obj),
        extensions={
            "kind": obj.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
        },
    )


def _change_id(change: str, meta: Mapping[str, Any]) -> str:
    if meta.get("uid") and meta.get("resourceVersion"):
        return f"{meta['uid']}/{meta['resourceVersion']}/{change.lower()}"
    return str(uuid.uuid4())  # an object without identity: nothing to dedupe it against


def is_reference(event: BaseCloudEvent) -> bool:
    """True for Reference-mode events, whose data names the object without carrying it."""
    return event.get_type() in (types.REF_ADD, types.REF_UPDATE, types.REF_DELETE)


def object_of(event: BaseCloudEvent) -> dict[str, Any]:
    """The object (Resource mode) or a skeleton with kind/metadata (Reference mode)."""
    if event.get_type() not in types.APISERVER_TYPES:
        raise MalformedEvent(
            f"event {event.get_id()}: {event.get_type()} is not an API server event"
        )
    data = data_of(event)
    if is_reference(event):
        return {
            "apiVersion": data.get("apiVersion"),
            "kind": data.get("kind"),
            "metadata": {"name": data.get("name"), "namespace": data.get("namespace")},
        }
    if "metadata" not in data or "kind" not in data:
        raise MalformedEvent(f"event {event.get_id()}: data is not a Kubernetes object")
    return data
