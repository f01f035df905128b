"""The chain's promises on the embedded shape: nothing dropped, nothing waits for a sweep.

Each test names a way the chain used to break (ids that collided, a run that waited
for a sweep or forever, a delivery that gave up silently) and checks it cannot now.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent

from events import types
from events.delivery import RetryPolicy
from events.errors import TransientError
from functions.resources.sqlite import SqliteStore
from functions.runtime.deps import build_deps
from functions.runtime.embedded import Embedded
from functions.runtime.inbox import Inbox
from tests.e2e.conftest import docs_of, run_docs, wait_terminal

MODEL_AND_AGENT = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: m}
spec:
  provider: scripted
  script: SCRIPT
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: a}
spec:
  modelRef: {name: m}
"""


# An agent that delegates one call to a helper agent, then answers with its result.
DELEGATING = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: m}
spec:
  provider: scripted
  script:
    - text: "asking"
      toolCalls: [{id: c0, name: helper, input: {task: "sub"}}]
    - text: "done: {{last_tool_result}}"
---
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: h}
spec: {provider: scripted, script: [{text: "child answer"}]}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: helper}
spec: {modelRef: {name: h}}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: a}
spec: {modelRef: {name: m}, tools: [{agent: helper}]}
"""


def _world(script: str) -> list[dict[str, Any]]:
    return docs_of(MODEL_AND_AGENT.replace("SCRIPT", script))


def _run(name: str, task: str = "go", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"agentRef": {"name": "a"}, "task": task, **spec},
    }


class Unreachable:
    """A chat platform that never answers (``Channels`` seam): every post is transient."""

    def __init__(self) -> None:
        self.posts = 0
        self.lock = threading.Lock()

    def post(self, routing: Mapping[str, Any], text: str, idempotency_key: str) -> None:
        with self.lock:
            self.posts += 1
        raise TransientError("chat API unreachable", reason="ChannelUnavailable")


class Recording:
    """A chat platform that takes every post (``Channels`` seam) and keeps it."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []

    def post(self, routing: Mapping[str, Any], text: str, idempotency_key: str) -> None:
        self.posts.append((str(routing.get("thread")), text))


def test_a_continued_answer_finishes_at_once(embedded: Any) -> None:
    """pause_turn then end_turn: run.completed has its own id, so no sweep is needed to end."""
    rt = embedded(sweep_interval=0)  # no safety net: the chain alone must finish the run
    script = '[{text: "part one, ", stopReason: pause_turn}, {text: "part two"}]'
    run_docs(rt, [*_world(script), _run("paused")])
    run = wait_terminal(rt, "paused", timeout=10)
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"] == "part one, part two"
    ids = [e.id for e in rt.events.read("default/paused")]
    assert len(ids) == len(set(ids))


def test_a_parent_resumed_by_its_child_announces_its_end(tmp_path: Path) -> None:
    """The parent's run.finished is not mistaken for the llm.requested that resumed it."""
    store = SqliteStore(str(tmp_path / "s.db"))
    channels = Recording()
    deps = build_deps(store, offline_fallback=True, channels=channels)
    with Embedded(str(tmp_path / "s.db"), store=store, deps=deps, sweep_interval=0) as rt:
        docs = docs_of(DELEGATING)
        routing = {"channel": "generic", "thread": "t-1"}
        run_docs(rt, [*docs, _run("lead", routing=routing)])
        run = wait_terminal(rt, "lead", timeout=10)
        deadline = time.monotonic() + 10
        while not channels.posts and time.monotonic() < deadline:
            time.sleep(0.01)
    assert run["status"]["result"] == "done: child answer"
    assert channels.posts == [("t-1", "done: child answer")]


def test_two_producers_with_the_same_id_both_get_through(embedded: Any) -> None:
    """Identity is source + id: two requests sharing an id from two sources start two runs."""
    rt = embedded()
    run_docs(rt, _world('[{text: "ok"}]'))
    for source in ("/producer/one", "/producer/two"):
        attrs = {
            "type": types.RUN_REQUESTED,
            "source": source,
            "id": "same-id",
            "specversion": "1.0",
        }
        rt.accept(
            CloudEvent(
                {**attrs, "datacontenttype": "application/json"}, {"agent": "a", "task": source}
            )
        )
    assert rt.bus.wait_idle(30), "the requests' chains are still busy"
    runs = rt.store.list("AgentRun", "default")
    assert sorted(r["spec"]["task"] for r in runs) == ["/producer/one", "/producer/two"]


def test_a_run_applied_while_nothing_ran_starts_at_once(tmp_path: Path) -> None:
    """The runtime takes up the runs that exist when it starts, as an informer's list does."""
    db = str(tmp_path / "s.db")
    store = SqliteStore(db)
    run_docs_into(store, [*_world('[{text: "ok"}]'), _run("early")])
    started = time.monotonic()
    with Embedded(db, store=store, sweep_interval=0, offline_fallback=True) as rt:
        run = wait_terminal(rt, "early", timeout=10)
    assert run["status"]["phase"] == "Succeeded"
    assert time.monotonic() - started < 5  # not a sweep's grace period: no sweep runs at all


def run_docs_into(store: SqliteStore, docs: list[dict[str, Any]]) -> None:
    """Apply documents straight into a store (no runtime running)."""
    from functions.cli.manifests import apply

    apply(store, docs)


def test_an_accepted_event_survives_the_process(tmp_path: Path) -> None:
    """An event in the inbox (answered 202, then the process died) runs at the next start."""
    db = str(tmp_path / "s.db")
    store = SqliteStore(db)
    run_docs_into(store, _world('[{text: "ok"}]'))
    attrs = {"type": types.RUN_REQUESTED, "source": "/client", "id": "r-1", "specversion": "1.0"}
    accepted = CloudEvent(
        {**attrs, "datacontenttype": "application/json"}, {"agent": "a", "task": "survive"}
    )
    Inbox(db).accept(accepted)  # what `baton serve` does before its 202; then it was killed
    with Embedded(db, store=store, sweep_interval=0, offline_fallback=True) as rt:
        deadline = time.monotonic() + 10
        while not rt.store.list("AgentRun", "default") and time.monotonic() < deadline:
            time.sleep(0.01)
        (run,) = rt.store.list("AgentRun", "default")
        done = wait_terminal(rt, run["metadata"]["name"])
    assert done["spec"]["task"] == "survive"
    assert done["status"]["phase"] == "Succeeded"


def test_a_run_waiting_for_a_missing_agent_fails_at_its_deadline(embedded: Any) -> None:
    """Waiting for a reference ends: Failed with the missing Agent named, not Pending forever."""
    rt = embedded()
    run_docs(rt, [_run("orphan", timeout="1s")])
    run = wait_terminal(rt, "orphan", timeout=15)
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["error"]["reason"] == "AgentNotFound"
    assert "Agent default/a" in run["status"]["error"]["message"]


def test_an_unreachable_chat_is_recorded_as_a_failed_delivery(tmp_path: Path) -> None:
    """The bus gives up posting: the run says Delivered=False (DeliveryFailed), not Retrying."""
    db = str(tmp_path / "s.db")
    store = SqliteStore(db)
    channels = Unreachable()
    deps = build_deps(store, offline_fallback=True, channels=channels)
    retry = RetryPolicy(max_attempts=3, base=0.01, cap=0.05)
    with Embedded(db, store=store, deps=deps, retry=retry, sweep_interval=0) as rt:
        run_docs(rt, [*_world('[{text: "ok"}]'), _run("chat", routing={"channel": "generic"})])
        wait_terminal(rt, "chat")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            run = rt.store.get("AgentRun", "default", "chat")
            delivered = {c["type"]: c for c in run["status"].get("conditions", [])}.get("Delivered")
            if delivered and delivered["reason"] == "DeliveryFailed":
                break
            time.sleep(0.02)
    assert delivered is not None
    assert (delivered["status"], delivered["reason"]) == ("False", "DeliveryFailed")
    assert "chat API unreachable" in delivered["message"]
    assert channels.posts == 3


def test_the_event_log_keeps_one_incarnation_per_name(embedded: Any) -> None:
    """A run deleted and created again under its name shows only its own events."""
    rt = embedded()
    run_docs(rt, [*_world('[{text: "ok"}]'), _run("again")])
    first = wait_terminal(rt, "again")
    rt.store.delete("AgentRun", "default", "again")
    run_docs(rt, [_run("again")])
    second = wait_terminal(rt, "again")
    assert first["metadata"]["uid"] != second["metadata"]["uid"]
    mine = rt.events.read("default/again", uid=second["metadata"]["uid"])
    assert {e.uid for e in mine} == {second["metadata"]["uid"]}
    assert [e.type for e in mine].count(types.RUN_FINISHED) == 1
    rt.store.delete("AgentRun", "default", "again")
    deadline = time.monotonic() + 20  # the watch logs the deletion itself, a moment later
    while types.RESOURCE_DELETE not in [
        e.type for e in rt.events.read("default/again", uid=second["metadata"]["uid"])
    ]:  # fmt: skip
        assert time.monotonic() < deadline, "the deletion was never logged"
        time.sleep(0.01)
    assert rt.events.prune() > 0  # the rows of runs no longer stored go
    assert rt.events.read("default/again") == []


def test_a_long_parent_name_still_starts_children(embedded: Any) -> None:
    """A parent named past a label value's 63 characters delegates like any other."""
    rt = embedded()
    docs = docs_of(DELEGATING)
    name = "a-parent-run-whose-name-is-much-longer-than-any-label-value-may-be"
    assert len(name) > 63
    run_docs(rt, [*docs, _run(name)])
    run = wait_terminal(rt, name)
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"] == "done: child answer"


def test_a_restarted_server_drops_its_dead_predecessors_claims(tmp_path: Path) -> None:
    """A model call claimed by a process that died runs again at start, not after the lease."""
    from functions.run.claims import claim

    db = str(tmp_path / "s.db")
    store = SqliteStore(db)
    run_docs_into(store, [*_world('[{text: "ok"}]'), _run("claimed")])
    with Embedded(db, store=store, sweep_interval=0, offline_fallback=True) as rt:
        wait_terminal(rt, "claimed")  # only to have a real run: now make it mid-call again
    run = store.get("AgentRun", "default", "claimed")
    status = {
        **run["status"],
        "phase": "Running",
        "stage": "Model",
        "step": 1,
        "tokenUsage": {"input": 0, "output": 0, "total": 0, "cacheRead": 0, "cacheCreation": 0},
    }
    for gone in ("result", "outcome", "completedAt", "durationMs", "conditions"):
        status.pop(gone, None)
    lease = 120.0
    claim(status, "llm/1", "dead-owner", time.time() + lease)  # a lease far from lapsing
    store.update_status({**run, "status": status})
    started = time.monotonic()
    with Embedded(db, store=store, sweep_interval=1.0, offline_fallback=True) as rt:
        done = wait_terminal(rt, "claimed", timeout=lease / 4)
    assert done["status"]["phase"] == "Succeeded"
    # Not waiting for the lease: a quarter of it leaves a loaded machine its start and stop.
    assert time.monotonic() - started < lease / 4


def test_one_embedded_server_per_database(tmp_path: Path) -> None:
    """A second runtime on the same database is refused, naming the database."""
    db = str(tmp_path / "s.db")
    with Embedded(db, sweep_interval=0):
        second = Embedded(db, sweep_interval=0)
        with pytest.raises(RuntimeError, match=r"another baton runtime serves .*s\.db"):
            second.start()
        second.stop()
