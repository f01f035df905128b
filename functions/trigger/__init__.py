"""trigger: any event starts an agent, as an AgentTrigger says.

Takes (1) AgentTrigger adds and updates, and compiles them (``Ready`` or why not);
(2) events from a trigger's own feed (its Kubernetes watch, schedule, NATS subject,
or the ApiServerSource / PingSource generated for it), which carry the
``batontrigger`` extension; (3) any other CloudEvent, offered to the triggers with a
``cloudEvent`` source. Each event passes the source's filters and ``when``, its task is
rendered, storm control decides on the trigger's status, and the AgentRun is
created. Nothing is emitted: the store's watch announces the run.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.apiserver import object_of
from events.envelope import CloudEvent
from functions.ports import Deps, NotFound, Resource
from functions.trigger.fire import offer
from functions.trigger.knative import delete_objects
from functions.trigger.matching import TRIGGER_EXTENSION, attributes_of, source_takes
from functions.trigger.reconcile import reconcile
from functions.trigger.spec import KIND, SpecError, compiled

__all__ = ["handle", "offer_event"]

NAME = "trigger"
log = logging.getLogger("baton.trigger")


def _data(event: BaseCloudEvent) -> Any:
    data = event.get_data()
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8", "replace")
    if isinstance(data, str) and "json" in str(event.get_datacontenttype() or "json"):
        try:
            return json.loads(data) if data else None
        except ValueError:
            return data
    return data


def _candidates(deps: Deps, attributes: dict[str, Any]) -> list[Resource]:
    addressed = attributes.get(TRIGGER_EXTENSION)
    if addressed:
        namespace, _, name = str(addressed).partition(".")
        try:
            return [deps.store.get(KIND, namespace, name)]
        except NotFound:
            return []
    every = deps.store.list(KIND)
    return [t for t in every if "cloudEvent" in ((t.get("spec") or {}).get("source") or {})]


def offer_event(deps: Deps, event: BaseCloudEvent) -> dict[str, str]:
    """Offer ``event`` to every trigger that takes it; the outcome per trigger."""
    attributes = attributes_of(event)
    data = _data(event)
    outcomes: dict[str, str] = {}
    for trigger in _candidates(deps, attributes):
        meta = trigger["metadata"]
        try:
            spec = compiled(trigger)
        except SpecError:
            continue  # Ready=False already says why
        if not source_takes(trigger, spec.source, attributes, data):
            continue
        outcome = offer(deps, trigger, spec, attributes, data)
        outcomes[f"{meta['namespace']}/{meta['name']}"] = outcome
        log.debug("trigger %s/%s: %s %s", meta["namespace"], meta["name"], event.get_id(), outcome)
    return outcomes


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Reconcile a changed AgentTrigger, or offer an event to the triggers that take it."""
    attributes = event.get_attributes()
    if (
        event.get_type() in (types.RESOURCE_ADD, types.RESOURCE_UPDATE)
        and attributes.get("kind") == KIND
        and TRIGGER_EXTENSION not in attributes
    ):
        meta = object_of(event)["metadata"]
        reconcile(deps, (str(meta.get("namespace") or "default"), str(meta["name"])))
        return []
    if (
        event.get_type() == types.RESOURCE_DELETE
        and attributes.get("kind") == KIND
        and TRIGGER_EXTENSION not in attributes
    ):
        delete_objects(deps, object_of(event))
        return []
    offer_event(deps, event)
    return []
