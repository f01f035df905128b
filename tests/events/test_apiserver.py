"""Resource change events in Knative ApiServerSource's shape."""

from __future__ import annotations

import pytest

from events import types
from events.apiserver import is_reference, object_of, resource_event, self_link
from events.envelope import data_of, make_event
from events.errors import MalformedEvent

RUN = {
    "apiVersion": "baton.dev/v1alpha1",
    "kind": "AgentRun",
    "metadata": {"name": "r1", "namespace": "team-a", "uid": "u1"},
    "spec": {"agentRef": {"name": "a1"}, "task": "t"},
}


def test_resource_mode_carries_the_object():
    """ADDED -> resource.add with the whole object and kind/name/namespace extensions."""
    event = resource_event("ADDED", RUN)
    assert event.get_type() == types.RESOURCE_ADD
    assert data_of(event) == RUN
    attrs = event.get_attributes()
    assert (attrs["kind"], attrs["name"], attrs["namespace"]) == ("AgentRun", "r1", "team-a")
    assert attrs["subject"] == "/apis/baton.dev/v1alpha1/namespaces/team-a/agentruns/r1"
    assert object_of(event) == RUN
    assert not is_reference(event)


def test_each_change_has_its_type():
    """MODIFIED and DELETED map to update and delete, in both modes."""
    assert resource_event("MODIFIED", RUN).get_type() == types.RESOURCE_UPDATE
    assert resource_event("DELETED", RUN).get_type() == types.RESOURCE_DELETE
    assert resource_event("DELETED", RUN, reference=True).get_type() == types.REF_DELETE
    with pytest.raises(ValueError, match="BOOKMARK"):
        resource_event("BOOKMARK", RUN)


def test_ids_are_random_like_apiserversources():
    """Two events for the same change have different ids (duplicates are the handlers' job)."""
    assert resource_event("ADDED", RUN).get_id() != resource_event("ADDED", RUN).get_id()


def test_reference_mode_carries_only_a_reference():
    """Reference mode: data names the object; object_of gives a skeleton without spec."""
    event = resource_event("ADDED", RUN, reference=True)
    assert event.get_type() == types.REF_ADD and is_reference(event)
    assert data_of(event) == {
        "kind": "AgentRun",
        "namespace": "team-a",
        "name": "r1",
        "apiVersion": "baton.dev/v1alpha1",
    }
    assert object_of(event) == {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": "r1", "namespace": "team-a"},
    }


def test_self_links_follow_kubernetes():
    """Core objects live under /api, cluster-scoped ones have no namespaces/ segment."""
    assert (
        self_link(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}}
        )
        == "/api/v1/namespaces/n/configmaps/c"
    )
    assert (
        self_link(
            {"apiVersion": "baton.dev/v1alpha1", "kind": "MCPServer", "metadata": {"name": "m"}}
        )
        == "/apis/baton.dev/v1alpha1/mcpservers/m"
    )


def test_object_of_rejects_other_events():
    """A baton event or data without kind/metadata is MalformedEvent."""
    with pytest.raises(MalformedEvent, match="not an API server event"):
        object_of(make_event(types.TICK, "/s", {}, id_="1"))
    with pytest.raises(MalformedEvent, match="not a Kubernetes object"):
        object_of(make_event(types.RESOURCE_ADD, "/s", {"name": "x"}, id_="1"))
