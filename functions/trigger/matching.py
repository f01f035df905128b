"""Which events a trigger's source takes (before its ``when`` condition is asked).

Events from a trigger's own feed (its watch, its timer, its NATS consumer, or the
ApiServerSource / PingSource generated for it in Knative) carry the ``batontrigger``
extension naming it; other CloudEvents are offered to every trigger with a
``cloudEvent`` source, whose attribute filters are exact matches, as a Knative
Trigger's are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from events import types

__all__ = ["TRIGGER_EXTENSION", "attributes_of", "source_takes", "trigger_key"]

TRIGGER_EXTENSION: Final = "batontrigger"
_CHANGES: Final = {
    types.RESOURCE_ADD: "add",
    types.RESOURCE_UPDATE: "update",
    types.RESOURCE_DELETE: "delete",
}


def trigger_key(namespace: str, name: str) -> str:
    """The value of the ``batontrigger`` extension for a trigger."""
    return f"{namespace}.{name}"


def attributes_of(event: Any) -> dict[str, Any]:
    """The event's attributes as strings (what ``when`` and templates see as ``event``)."""
    out: dict[str, Any] = {}
    for name, value in event.get_attributes().items():
        out[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return out


def _cloud_event(spec: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    for name in ("type", "source", "subject"):
        if spec.get(name) and attributes.get(name) != spec[name]:
            return False
    return all(attributes.get(k) == v for k, v in (spec.get("extensions") or {}).items())


def _kubernetes(
    spec: Mapping[str, Any], attributes: Mapping[str, Any], data: Any, namespace: str
) -> bool:
    change = _CHANGES.get(str(attributes.get("type")))
    if change is None or not isinstance(data, Mapping):
        return False
    if change not in (spec.get("changes") or ("add", "update", "delete")):
        return False
    if data.get("kind") != spec.get("kind") or data.get("apiVersion") != spec.get("apiVersion"):
        return False
    meta = data.get("metadata") or {}
    namespaces = spec.get("namespaces") or [namespace]
    if "*" not in namespaces and meta.get("namespace") not in namespaces:
        return False
    labels = meta.get("labels") or {}
    wanted = (spec.get("labelSelector") or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def source_takes(
    trigger: Mapping[str, Any], source: str, attributes: Mapping[str, Any], data: Any
) -> bool:
    """True when ``trigger``'s source would have sent this event."""
    meta = trigger["metadata"]
    spec = trigger["spec"]["source"][source] or {}
    addressed = attributes.get(TRIGGER_EXTENSION)
    own = trigger_key(meta["namespace"], meta["name"])
    if source == "cloudEvent":
        return addressed in (None, own) and _cloud_event(spec, attributes)
    if addressed != own:
        return False  # a feed names its trigger; anything else is not from this source
    if source == "kubernetes":
        return _kubernetes(spec, attributes, data, meta["namespace"])
    return True
