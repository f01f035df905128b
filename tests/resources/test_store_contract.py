"""The Store contract: every implementation behaves like a kube-apiserver for baton's kinds."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from functions.ports import API_VERSION, Conflict, Invalid, NotFound, Store, WatchEvent

RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
# Watches in these tests end on their own if an implementation stops delivering,
# so a broken store fails an assertion instead of hanging the suite.
IDLE = 10.0


_AT = "2026-01-01T00:00:00Z"


def take(watch: Iterator[WatchEvent], count: int) -> list[WatchEvent]:
    """The next ``count`` events of a watch (fewer if it ends)."""
    return list(itertools.islice(watch, count))


def unique(prefix: str = "run") -> str:
    """A fresh object name (tests may share an API server)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def agent_run(name: str, namespace: str, tag: str, **spec: Any) -> dict[str, Any]:
    """A minimal valid AgentRun labelled with the test's tag."""
    return {
        "apiVersion": API_VERSION,
        "kind": "AgentRun",
        "metadata": {"name": name, "namespace": namespace, "labels": {"test": tag}},
        "spec": {"agentRef": {"name": "helper"}, "task": "say hi", **spec},
    }


def agent(name: str, namespace: str, tag: str) -> dict[str, Any]:
    """A minimal valid Agent labelled with the test's tag."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Agent",
        "metadata": {"name": name, "namespace": namespace, "labels": {"test": tag}},
        "spec": {"modelRef": {"name": "m"}},
    }


def test_create_assigns_identity_and_defaults(store: Store, namespace: str, tag: str) -> None:
    """Create fills uid, resourceVersion, generation 1, creationTimestamp and CRD defaults."""
    created = store.create(agent_run(unique(), namespace, tag))
    meta = created["metadata"]
    uuid.UUID(meta["uid"])
    assert meta["resourceVersion"]
    assert meta["generation"] == 1
    assert RFC3339_Z.match(meta["creationTimestamp"])
    assert created["spec"]["mode"] == "task"
    assert created["spec"]["cleanup"] == "keep"
    assert store.get("AgentRun", namespace, meta["name"]) == created


def test_create_ignores_status(store: Store, namespace: str, tag: str) -> None:
    """Status is the status subresource's: a create cannot set it."""
    obj = agent_run(unique(), namespace, tag)
    obj["status"] = {"phase": "Succeeded", "result": "forged"}
    created = store.create(obj)
    assert created.get("status", {}).get("phase") in (None, "")
    stored = store.get("AgentRun", namespace, created["metadata"]["name"])
    assert stored.get("status", {}).get("result") is None


def test_create_does_not_modify_the_callers_object(store: Store, namespace: str, tag: str) -> None:
    """The dict passed to create is left as it was."""
    obj = agent_run(unique(), namespace, tag)
    before = repr(obj)
    store.create(obj)
    assert repr(obj) == before


def test_create_existing_name_conflicts(store: Store, namespace: str, tag: str) -> None:
    """A second create of one name is a Conflict that says it already exists."""
    name = unique()
    store.create(agent_run(name, namespace, tag))
    with pytest.raises(Conflict, match=rf'agentruns\.baton\.dev "{name}" already exists'):
        store.create(agent_run(name, namespace, tag))


def test_create_invalid_names_the_field(store: Store, namespace: str, tag: str) -> None:
    """An object that breaks its CRD is refused with the field path."""
    obj = agent_run(unique(), namespace, tag, mode="forever")
    with pytest.raises(Invalid, match=r"spec\.mode: Unsupported value: \"forever\"") as caught:
        store.create(obj)
    assert caught.value.field == "spec.mode"


def test_create_with_unknown_field_is_refused(store: Store, namespace: str, tag: str) -> None:
    """Unknown fields are errors in every store (strict, as kubectl --validate=strict)."""
    obj = agent_run(unique(), namespace, tag, colour="red")
    with pytest.raises(Invalid, match=r'unknown field "spec\.colour"') as caught:
        store.create(obj)
    assert caught.value.field == "spec.colour"


def test_get_missing_is_not_found(store: Store, namespace: str) -> None:
    """Reading a name that was never created raises NotFound naming it."""
    with pytest.raises(NotFound, match=r'agentruns\.baton\.dev "nope-404" not found'):
        store.get("AgentRun", namespace, "nope-404")


def test_list_filters_by_kind_namespace_and_labels(store: Store, namespace: str, tag: str) -> None:
    """List returns the kind's objects in the namespace that carry every selected label."""
    names = sorted(unique() for _ in range(3))
    for index, name in enumerate(names):
        obj = agent_run(name, namespace, tag)
        obj["metadata"]["labels"]["parity"] = "even" if index % 2 == 0 else "odd"
        store.create(obj)
    store.create(agent(unique("agent"), namespace, tag))

    listed = store.list("AgentRun", namespace, {"test": tag})
    assert [r["metadata"]["name"] for r in listed] == names
    even = store.list("AgentRun", namespace, {"test": tag, "parity": "even"})
    assert [r["metadata"]["name"] for r in even] == [names[0], names[2]]
    assert store.list("AgentRun", namespace, {"test": tag, "parity": "none"}) == []
    assert len(store.list("Agent", namespace, {"test": tag})) == 1
    everywhere = store.list("AgentRun", None, {"test": tag})
    assert [r["metadata"]["name"] for r in everywhere] == names


def test_update_with_stale_resource_version_conflicts(
    store: Store, namespace: str, tag: str
) -> None:
    """Two writers from one read: the second write is a Conflict, the first one stays."""
    created = store.create(agent_run(unique(), namespace, tag))
    first = {**created, "spec": {**created["spec"], "task": "first"}}
    second = {**created, "spec": {**created["spec"], "task": "second"}}
    store.update(first)
    with pytest.raises(Conflict, match="the object has been modified"):
        store.update(second)
    stored = store.get("AgentRun", namespace, created["metadata"]["name"])
    assert stored["spec"]["task"] == "first"


def test_update_bumps_generation_only_for_spec(store: Store, namespace: str, tag: str) -> None:
    """A spec change moves generation; a label change moves only resourceVersion."""
    created = store.create(agent_run(unique(), namespace, tag))
    relabelled = {**created, "metadata": {**created["metadata"]}}
    relabelled["metadata"]["labels"] = {"test": tag, "colour": "blue"}
    after_labels = store.update(relabelled)
    assert after_labels["metadata"]["generation"] == 1
    assert after_labels["metadata"]["labels"]["colour"] == "blue"
    assert after_labels["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]

    respecced = {**after_labels, "spec": {**after_labels["spec"], "task": "new task"}}
    after_spec = store.update(respecced)
    assert after_spec["metadata"]["generation"] == 2
    assert after_spec["metadata"]["uid"] == created["metadata"]["uid"]
    assert after_spec["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]


def test_update_never_changes_status(store: Store, namespace: str, tag: str) -> None:
    """update keeps the stored status whatever status the caller sends."""
    created = store.create(agent_run(unique(), namespace, tag))
    running = store.update_status({**created, "status": {"phase": "Running", "step": 1}})
    forged = {**running, "spec": {**running["spec"], "task": "t2"}, "status": {"phase": "Failed"}}
    updated = store.update(forged)
    assert updated["status"] == {"phase": "Running", "step": 1}
    assert updated["spec"]["task"] == "t2"


def test_update_status_changes_only_status(store: Store, namespace: str, tag: str) -> None:
    """update_status writes status; spec and labels in the same object are ignored."""
    created = store.create(agent_run(unique(), namespace, tag))
    obj = {
        **created,
        "metadata": {**created["metadata"], "labels": {"test": tag, "sneaky": "yes"}},
        "spec": {**created["spec"], "task": "rewritten"},
        "status": {"phase": "Running", "step": 1, "tokenUsage": {"input": 3, "total": 3}},
    }
    written = store.update_status(obj)
    assert written["status"]["phase"] == "Running"
    assert written["spec"]["task"] == "say hi"
    assert "sneaky" not in written["metadata"]["labels"]
    assert written["metadata"]["generation"] == 1
    assert store.get("AgentRun", namespace, created["metadata"]["name"]) == written


def test_update_status_with_stale_resource_version_conflicts(
    store: Store, namespace: str, tag: str
) -> None:
    """A status write from an old read is a Conflict; the newer status survives."""
    created = store.create(agent_run(unique(), namespace, tag))
    store.update_status({**created, "status": {"phase": "Running"}})
    with pytest.raises(Conflict):
        store.update_status({**created, "status": {"phase": "Pending"}})
    name = created["metadata"]["name"]
    assert store.get("AgentRun", namespace, name)["status"]["phase"] == "Running"


def test_update_status_validates_status(store: Store, namespace: str, tag: str) -> None:
    """A status that breaks the CRD is refused with its path."""
    created = store.create(agent_run(unique(), namespace, tag))
    with pytest.raises(Invalid, match=r"status\.phase: Unsupported value: \"Sleeping\""):
        store.update_status({**created, "status": {"phase": "Sleeping"}})


def test_a_bad_field_among_unchanged_ones_is_refused_and_nothing_is_written(
    store: Store, namespace: str, tag: str
) -> None:
    """A commit that changes one nested field wrongly is refused, journal and all."""
    created = store.create(agent_run(unique(), namespace, tag))
    good = {"phase": "Running", "claims": {"llm/1": {"owner": "a", "expiresAt": _AT}}}
    written = store.update_status({**created, "status": good})
    bad = {**good, "claims": {**good["claims"], "tool/1/c": {"owner": "b", "expiresAt": "x"}}}
    with pytest.raises(Invalid, match=r"status\.claims\.tool/1/c\.expiresAt"):
        store.commit({**written, "status": bad}, {"turn/1": {"role": "assistant"}})
    assert store.get("AgentRun", namespace, created["metadata"]["name"])["status"] == good
    assert store.read_journal(written) == []


def test_update_of_missing_object_is_not_found(store: Store, namespace: str, tag: str) -> None:
    """Updating an object that was deleted raises NotFound."""
    created = store.create(agent_run(unique(), namespace, tag))
    store.delete("AgentRun", namespace, created["metadata"]["name"])
    with pytest.raises(NotFound):
        store.update({**created, "spec": {**created["spec"], "task": "again"}})
    with pytest.raises(NotFound):
        store.update_status({**created, "status": {"phase": "Running"}})


def test_delete_removes_the_object(store: Store, namespace: str, tag: str) -> None:
    """After delete, get raises NotFound, list omits it, and a second delete is NotFound."""
    name = unique()
    store.create(agent_run(name, namespace, tag))
    store.delete("AgentRun", namespace, name)
    with pytest.raises(NotFound):
        store.get("AgentRun", namespace, name)
    assert store.list("AgentRun", namespace, {"test": tag}) == []
    with pytest.raises(NotFound):
        store.delete("AgentRun", namespace, name)


def test_watch_reports_changes_in_order(store: Store, namespace: str, tag: str) -> None:
    """A watch from now sees ADDED, MODIFIED, DELETED of the kind, in write order."""
    start = store.create(agent_run(unique(), namespace, tag))
    since = start["metadata"]["resourceVersion"]
    watch = store.watch("AgentRun", namespace, since=since, timeout=IDLE)
    name = unique()
    created = store.create(agent_run(name, namespace, tag))
    store.create(agent(unique("agent"), namespace, tag))  # another kind: not reported
    running = store.update_status({**created, "status": {"phase": "Running"}})
    store.delete("AgentRun", namespace, name)

    seen = take(watch, 3)
    assert [(e.type, e.object["metadata"]["name"]) for e in seen] == [
        ("ADDED", name),
        ("MODIFIED", name),
        ("DELETED", name),
    ]
    assert seen[0].object["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert seen[1].object["status"]["phase"] == "Running"
    assert seen[1].object["metadata"]["resourceVersion"] == running["metadata"]["resourceVersion"]


def test_watch_from_now_starts_at_the_call(store: Store, namespace: str, tag: str) -> None:
    """since=None skips what happened before the call and sees writes made after it."""
    store.create(agent_run(unique(), namespace, tag))
    watch = store.watch("AgentRun", namespace, timeout=IDLE)
    later = unique()
    store.create(agent_run(later, namespace, tag))
    events = take(watch, 1)
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [("ADDED", later)]


def test_watch_replays_from_a_resource_version(store: Store, namespace: str, tag: str) -> None:
    """A watch since a resourceVersion replays every later change of the kind."""
    first = store.create(agent_run(unique(), namespace, tag))
    second = store.create(agent_run(unique(), namespace, tag))
    third = store.create(agent_run(unique(), namespace, tag))
    since = first["metadata"]["resourceVersion"]
    watch = store.watch("AgentRun", namespace, since=since, timeout=IDLE)
    names = [e.object["metadata"]["name"] for e in take(watch, 2)]
    assert names == [second["metadata"]["name"], third["metadata"]["name"]]


def test_watch_with_timeout_ends_when_idle(store: Store, namespace: str) -> None:
    """A watch with a timeout stops by itself when nothing happens."""
    assert list(store.watch("Model", namespace, timeout=0.2)) == []


def test_journal_keeps_first_entry_per_key(store: Store, namespace: str, tag: str) -> None:
    """append_journal records a key once; a repeat returns False and changes nothing."""
    run = store.create(agent_run(unique(), namespace, tag))
    assert store.append_journal(run, "step/1/reply", {"text": "first"}) is True
    assert store.append_journal(run, "step/1/reply", {"text": "second"}) is False
    assert store.read_journal(run) == [("step/1/reply", {"text": "first"})]


def test_journal_reads_in_write_order(store: Store, namespace: str, tag: str) -> None:
    """Entries come back in the order they were written, not sorted by key."""
    run = store.create(agent_run(unique(), namespace, tag))
    keys = ["z-context", "a-reply", "m-tool", "b-reply"]
    for index, key in enumerate(keys):
        store.append_journal(run, key, {"n": index, "nested": {"list": [1, "two"]}})
    entries = store.read_journal(run)
    assert [k for k, _ in entries] == keys
    assert entries[2][1] == {"n": 2, "nested": {"list": [1, "two"]}}


def test_journal_is_per_run_incarnation(store: Store, namespace: str, tag: str) -> None:
    """A run re-created under the same name starts with an empty journal."""
    name = unique()
    old = store.create(agent_run(name, namespace, tag))
    store.append_journal(old, "context", {"system": "old"})
    store.delete("AgentRun", namespace, name)
    new = store.create(agent_run(name, namespace, tag))
    assert new["metadata"]["uid"] != old["metadata"]["uid"]
    assert store.read_journal(new) == []
    assert store.append_journal(new, "context", {"system": "new"}) is True


def test_watch_can_keep_only_some_change_types(store: Store, namespace: str, tag: str) -> None:
    """A watch asked for ADDED and DELETED does not report the status writes between."""
    start = store.create(agent_run(unique(), namespace, tag))
    since = start["metadata"]["resourceVersion"]
    watch = store.watch(
        "AgentRun", namespace, since=since, timeout=IDLE, changes=("ADDED", "DELETED")
    )
    name = unique()
    created = store.create(agent_run(name, namespace, tag))
    store.update_status({**created, "status": {"phase": "Running"}})
    store.delete("AgentRun", namespace, name)

    seen = take(watch, 2)
    assert [(e.type, e.object["metadata"]["name"]) for e in seen] == [
        ("ADDED", name),
        ("DELETED", name),
    ]
