"""A kubernetes source on core Events, as its feed (watch or ApiServerSource) delivers them."""

from __future__ import annotations

from typing import Any

from cloudevents.core.v1.event import CloudEvent

from events.apiserver import resource_event
from functions import trigger as trigger_function
from functions.ports import Deps
from functions.resources.sqlite import SqliteStore
from functions.trigger.fire import flush
from tests.triggers.conftest import runs_of, trigger

EVENTS = {"kubernetes": {"apiVersion": "v1", "kind": "Event", "changes": ["add"]}}


def _k8s_event(name: str, type_: str, reason: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                     "resourceVersion": "7"},
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": namespace},
        "type": type_,
        "reason": reason,
        "message": f"{reason} on web-1",
    }  # fmt: skip


def _fed(change: str, obj: dict[str, Any], to: str = "default.oom") -> CloudEvent:
    """The event as the trigger's own feed sends it (``batontrigger`` names the trigger)."""
    event = resource_event(change, obj, source="https://kube.example")
    attributes = {
        **event.get_attributes(),
        "batontrigger": to,
        "id": f"{obj['metadata']['uid']}/{change}",
    }
    return CloudEvent(attributes, event.get_data())


def test_warning_events_start_runs_others_are_filtered_or_not_taken(
    store: SqliteStore, deps: Deps
) -> None:
    """A Warning OOMKilling starts a run routed to a chat thread; a Normal one is filtered; a
    delete (not among ``changes``), another namespace, or a feed of another trigger, nothing."""
    store.create(
        trigger(
            "oom",
            EVENTS,
            "{{ data.involvedObject.kind }} {{ data.involvedObject.name }}: {{ data.message }}",
            when='data.type == "Warning" && data.reason == "OOMKilling"',
            run={
                "task": "{{ data.involvedObject.name }}: {{ data.message }}",
                "routing": {"channel": "slack", "thread": "oncall-{{ data.metadata.namespace }}"},
            },
        )
    )
    trigger_function.handle(_fed("ADDED", _k8s_event("e1", "Warning", "OOMKilling")), deps)
    trigger_function.handle(_fed("ADDED", _k8s_event("e2", "Normal", "Pulled")), deps)
    trigger_function.handle(_fed("DELETED", _k8s_event("e3", "Warning", "OOMKilling")), deps)
    other_ns = _k8s_event("e4", "Warning", "OOMKilling", namespace="kube-system")
    trigger_function.handle(_fed("ADDED", other_ns), deps)
    mine = _k8s_event("e5", "Warning", "OOMKilling")
    trigger_function.handle(_fed("ADDED", mine, to="default.someone-else"), deps)
    [run] = runs_of(store, "oom")
    assert run["spec"]["task"] == "web-1: OOMKilling on web-1"
    assert run["spec"]["routing"] == {"channel": "slack", "thread": "oncall-default"}
    flush(deps, ("default", "oom"))
    status = store.get("AgentTrigger", "default", "oom")["status"]
    assert status["eventsDropped"] == {"filtered": 1}
