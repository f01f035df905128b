"""The fake store keeps the write semantics the transitions rely on, like SqliteStore does."""

from __future__ import annotations

import pytest

from functions.ports import API_VERSION, Conflict, NotFound
from functions.resources.sqlite import SqliteStore
from tests.fakes.store import FakeStore


@pytest.fixture(params=["fake", "sqlite"])
def store(request, tmp_path):
    """The fake, and the real store it stands in for."""
    if request.param == "fake":
        yield FakeStore()
        return
    s = SqliteStore(tmp_path / "baton.db")
    yield s
    s.close()


def _run(name="r1"):
    return {
        "apiVersion": API_VERSION,
        "kind": "AgentRun",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"agentRef": {"name": "a1"}, "task": "t"},
        "status": {"phase": "Succeeded"},
    }


def test_create_drops_status_and_refuses_a_taken_name(store):
    """Status belongs to the status subresource; a second create of a name conflicts."""
    run = store.create(_run())
    assert "status" not in run
    assert run["metadata"]["generation"] == 1 and run["metadata"]["uid"]
    with pytest.raises(Conflict):
        store.create(_run())


def test_a_stale_resource_version_conflicts(store):
    """Two writers from the same read: the second gets Conflict."""
    run = store.create(_run())
    store.update_status({**run, "status": {"phase": "Running"}})
    with pytest.raises(Conflict):
        store.update_status({**run, "status": {"phase": "Failed"}})
    assert store.get("AgentRun", "default", "r1")["status"] == {"phase": "Running"}


def test_status_and_spec_writes_stay_apart(store):
    """update keeps status and bumps generation on spec change; update_status keeps spec."""
    run = store.create(_run())
    run = store.update_status({**run, "status": {"phase": "Running"}})
    changed = {**run, "spec": {**run["spec"], "task": "new"}, "status": {"phase": "Hacked"}}
    run = store.update(changed)
    assert (run["status"], run["metadata"]["generation"]) == ({"phase": "Running"}, 2)
    run = store.update_status({**run, "spec": {"agentRef": {"name": "x"}, "task": "y"}})
    assert run["spec"]["task"] == "new"


def test_a_no_op_status_write_keeps_the_resource_version(store):
    """Writing the same status again does not bump resourceVersion."""
    run = store.create(_run())
    run = store.update_status({**run, "status": {"phase": "Running"}})
    again = store.update_status({**run, "status": {"phase": "Running"}})
    assert again["metadata"]["resourceVersion"] == run["metadata"]["resourceVersion"]


def test_the_journal_keeps_the_first_entry_per_key_and_goes_with_the_run(store):
    """append_journal is once per key; after delete the run's journal is gone."""
    run = store.create(_run())
    assert store.append_journal(run, "k", {"v": 1}) is True
    assert store.append_journal(run, "k", {"v": 2}) is False
    assert store.append_journal(run, "j", {"v": 3}) is True
    assert store.read_journal(run) == [("k", {"v": 1}), ("j", {"v": 3})]
    store.delete("AgentRun", "default", "r1")
    with pytest.raises(NotFound):
        store.append_journal(run, "z", {})
    with pytest.raises(NotFound):
        store.get("AgentRun", "default", "r1")


def test_a_watch_from_zero_lists_then_follows(store):
    """since="0" gives the current objects as ADDED, then later changes."""
    run = store.create(_run())
    events = store.watch("AgentRun", since="0", timeout=0.2)
    store.update_status({**run, "status": {"phase": "Running"}})
    first, second = next(events), next(events)
    assert (first.type, first.object["metadata"]["name"]) == ("ADDED", "r1")
    assert (second.type, second.object["status"]) == ("MODIFIED", {"phase": "Running"})


def test_commit_writes_status_and_journal_together(store):
    """One commit: the new status and its journal entries; the first entry per key stays."""
    run = store.create(_run())
    run = store.commit({**run, "status": {"phase": "Running"}}, {"reply/1": {"v": 1}})
    assert store.get("AgentRun", "default", "r1")["status"] == {"phase": "Running"}
    run = store.commit({**run, "status": {"phase": "Succeeded"}}, {"reply/1": {"v": 2}})
    assert store.read_journal(run) == [("reply/1", {"v": 1})]
    assert run["status"] == {"phase": "Succeeded"}


def test_a_stale_commit_writes_nothing(store):
    """A commit from an old read conflicts, and neither its status nor its journal lands."""
    run = store.create(_run())
    store.commit({**run, "status": {"phase": "Running"}})
    with pytest.raises(Conflict):
        store.commit({**run, "status": {"phase": "Failed"}}, {"reply/1": {"v": 1}})
    assert store.get("AgentRun", "default", "r1")["status"] == {"phase": "Running"}
    assert store.read_journal(run) == []
