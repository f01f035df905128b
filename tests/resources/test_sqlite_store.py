"""SqliteStore beyond the contract: processes sharing a file, compaction, threads."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.ports import API_VERSION, Conflict, Expired, NotFound
from functions.resources.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[2]
IDLE = 10.0


def run_obj(name: str, **spec: Any) -> dict[str, Any]:
    """A minimal valid AgentRun in the default namespace."""
    return {
        "apiVersion": API_VERSION,
        "kind": "AgentRun",
        "metadata": {"name": name},
        "spec": {"agentRef": {"name": "helper"}, **spec},
    }


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh database file."""
    return tmp_path / "shared.db"


@pytest.fixture
def sqlite_store(db_path: Path) -> Iterator[SqliteStore]:
    """A SqliteStore on ``db_path``."""
    store = SqliteStore(db_path)
    yield store
    store.close()


def test_resource_versions_increase_across_kinds(sqlite_store: SqliteStore) -> None:
    """resourceVersion is one integer counter for every kind and write."""
    versions = []
    run = sqlite_store.create(run_obj("a"))
    versions.append(run["metadata"]["resourceVersion"])
    agent = {
        "apiVersion": API_VERSION,
        "kind": "Agent",
        "metadata": {"name": "helper"},
        "spec": {"modelRef": {"name": "m"}},
    }
    versions.append(sqlite_store.create(agent)["metadata"]["resourceVersion"])
    run = sqlite_store.update_status({**run, "status": {"phase": "Pending"}})
    versions.append(run["metadata"]["resourceVersion"])
    assert [int(v) for v in versions] == sorted(int(v) for v in versions)
    assert len(set(versions)) == 3


def test_unchanged_update_writes_nothing(sqlite_store: SqliteStore) -> None:
    """Writing back what was read keeps the resourceVersion and emits no watch event."""
    run = sqlite_store.update_status({**sqlite_store.create(run_obj("a")), "status": {"step": 1}})
    watch = sqlite_store.watch("AgentRun", timeout=0.2)
    assert sqlite_store.update(run) == run
    assert sqlite_store.update_status(run) == run
    assert list(watch) == []


def test_generate_name_makes_a_unique_name(sqlite_store: SqliteStore) -> None:
    """metadata.generateName gets a random suffix, as on the API server."""
    obj = run_obj("")
    obj["metadata"] = {"generateName": "job-"}
    first = sqlite_store.create(obj)
    second = sqlite_store.create(obj)
    assert first["metadata"]["name"].startswith("job-")
    assert first["metadata"]["name"] != second["metadata"]["name"]


def test_watch_since_zero_lists_then_follows(sqlite_store: SqliteStore) -> None:
    """since="0" reports existing objects as ADDED, then later changes."""
    sqlite_store.create(run_obj("old"))
    watch = sqlite_store.watch("AgentRun", since="0", timeout=IDLE)
    sqlite_store.create(run_obj("new"))
    events = list(itertools.islice(watch, 2))
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "old"),
        ("ADDED", "new"),
    ]


def test_watch_resumes_where_an_idle_watch_ended(sqlite_store: SqliteStore) -> None:
    """A watch that timed out without events tells where to resume; nothing is missed."""
    idle = sqlite_store.watch("AgentRun", timeout=0.1)
    assert list(idle) == []
    sqlite_store.create(run_obj("in-between"))  # lands between two watches
    resumed = sqlite_store.watch("AgentRun", since=idle.resource_version, timeout=IDLE)
    assert next(resumed).object["metadata"]["name"] == "in-between"
    current = sqlite_store.get("AgentRun", "default", "in-between")
    assert resumed.resource_version == current["metadata"]["resourceVersion"]


def test_watch_from_a_compacted_version_expires(db_path: Path) -> None:
    """Once the change log is trimmed past ``since``, the watch raises Expired (410)."""
    store = SqliteStore(db_path, keep_changes=10)
    first = store.create(run_obj("a"))
    run = first
    for step in range(40):
        run = store.update_status({**run, "status": {"step": step}})
    with pytest.raises(Expired, match="too old resource version"):
        next(store.watch("AgentRun", since=first["metadata"]["resourceVersion"]))
    recent = store.watch("AgentRun", since=str(int(run["metadata"]["resourceVersion"]) - 1))
    assert next(recent).object["status"] == {"step": 39}
    store.close()


def test_compaction_keeps_every_live_object(db_path: Path) -> None:
    """Objects written long before the trim point are still readable and listable."""
    store = SqliteStore(db_path, keep_changes=5)
    store.create(run_obj("quiet"))
    busy = store.create(run_obj("busy"))
    for step in range(30):
        busy = store.update_status({**busy, "status": {"step": step}})
    assert store.get("AgentRun", "default", "quiet")["metadata"]["name"] == "quiet"
    assert [r["metadata"]["name"] for r in store.list("AgentRun")] == ["busy", "quiet"]
    store.close()


def test_journal_of_a_missing_run_is_not_found(sqlite_store: SqliteStore) -> None:
    """Appending to a deleted run's journal fails instead of leaving an orphan entry."""
    run = sqlite_store.create(run_obj("a"))
    sqlite_store.delete("AgentRun", "default", "a")
    with pytest.raises(NotFound):
        sqlite_store.append_journal(run, "late", {"x": 1})


def test_concurrent_writers_lose_no_update(sqlite_store: SqliteStore) -> None:
    """Threads doing read-modify-write with conflict retries count every increment."""
    sqlite_store.update_status(
        {**sqlite_store.create(run_obj("counter")), "status": {"toolCalls": 0}}
    )
    conflicts = []

    def bump(times: int) -> None:
        for _ in range(times):
            while True:
                run = sqlite_store.get("AgentRun", "default", "counter")
                run["status"]["toolCalls"] += 1
                try:
                    sqlite_store.update_status(run)
                    break
                except Conflict:
                    conflicts.append(1)

    threads = [threading.Thread(target=bump, args=(50,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = sqlite_store.get("AgentRun", "default", "counter")
    assert final["status"]["toolCalls"] == 200


def test_one_refused_write_does_not_undo_others(sqlite_store: SqliteStore) -> None:
    """Writers racing for one name: one wins, the rest get Conflict, their other writes land."""
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def race(index: int) -> None:
        start.wait()
        sqlite_store.create(run_obj(f"own-{index}"))
        try:
            sqlite_store.create(run_obj("contested"))
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")
        sqlite_store.create(run_obj(f"after-{index}"))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    names = {r["metadata"]["name"] for r in sqlite_store.list("AgentRun")}
    assert names == {"contested"} | {f"own-{i}" for i in range(8)} | {
        f"after-{i}" for i in range(8)
    }


def test_watch_in_another_thread_sees_writes(sqlite_store: SqliteStore) -> None:
    """A watch consumed on one thread reports what another thread writes."""
    watch = sqlite_store.watch("AgentRun", timeout=IDLE)
    seen: list[str] = []
    reader = threading.Thread(
        target=lambda: seen.extend(e.object["metadata"]["name"] for e in itertools.islice(watch, 3))
    )
    reader.start()
    for name in ("one", "two", "three"):
        sqlite_store.create(run_obj(name))
    reader.join()
    assert seen == ["one", "two", "three"]


WRITER = textwrap.dedent(
    """
    import sys
    from functions.resources.sqlite import SqliteStore

    store = SqliteStore(sys.argv[1])
    run = store.create({
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": "from-child"},
        "spec": {"agentRef": {"name": "helper"}, "task": "hello from another process"},
    })
    store.update_status({**run, "status": {"phase": "Running", "step": 1}})
    store.append_journal(run, "context", {"who": "child"})
    store.close()
    """
)


def test_two_processes_share_one_file(sqlite_store: SqliteStore, db_path: Path) -> None:
    """A subprocess writes to the file; this process's watch, get and journal see it."""
    watch = sqlite_store.watch("AgentRun", timeout=IDLE)
    subprocess.run([sys.executable, "-c", WRITER, str(db_path)], cwd=REPO, check=True, timeout=60)
    events = list(itertools.islice(watch, 2))
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "from-child"),
        ("MODIFIED", "from-child"),
    ]
    assert events[1].object["status"]["phase"] == "Running"
    run = sqlite_store.get("AgentRun", "default", "from-child")
    assert run["spec"]["task"] == "hello from another process"
    assert sqlite_store.read_journal(run) == [("context", {"who": "child"})]
