"""Duplicated and reordered delivery gives the same final state, with no effect twice."""

from __future__ import annotations

import random

import pytest

from events import types
from events.catalogue import validate_data
from events.envelope import data_of
from tests.fakes.model import answer, tool_use
from tests.transitions.harness import Harness


def _world() -> Harness:
    """A parent that calls two tools and a sub-agent in one step, then answers."""
    h = Harness()
    h.model("m1")
    h.model("m2")
    h.agent("helper", model="m2")
    h.agent(tools=[{"builtin": "calculate"}, {"agent": "helper", "name": "ask_helper"}])
    h.run(task="Compute and delegate")
    h.models.script(
        "m1",
        tool_use(
            ("t1", "calculate", {"expression": "6*7"}),
            ("t2", "calculate", {"expression": "2**5"}),
            ("t3", "ask_helper", {"task": "say hi"}),
            input=100,
            output=20,
        ),
        answer("42, 32 and hi", input=200, output=10),
    )
    h.models.script("m2", answer("hi", input=50, output=2))
    return h


def _outcome(h: Harness):
    """What a user would compare: every run's status (minus the random trace id) and journal."""
    state = {}
    for run in h.store.list("AgentRun"):
        status = dict(run["status"])
        status.pop("traceID")
        name = "child" if run["spec"].get("parent") else run["metadata"]["name"]
        state[name] = (status, dict(h.store.read_journal(run)))
    return state


def _run(h: Harness, rng=None, duplicate=0.0):
    finished = h.pump([h.added()], rng, duplicate)
    return [e for e in finished if e.get_type() == types.RUN_FINISHED]


def test_an_orderly_run_succeeds():
    """The reference run: parent and child succeed, each model asked once per step."""
    h = _world()
    finished = _run(h)
    assert len(finished) == 2
    st = h.status()
    assert (st["phase"], st["result"], st["toolCalls"]) == ("Succeeded", "42, 32 and hi", 3)
    assert st["tokenUsage"]["total"] == 330
    assert h.journal()["tool/1/t3"]["content"] == "hi"
    assert [len(h.models[m].requests) for m in ("m1", "m2")] == [2, 1]


@pytest.mark.parametrize("seed", range(25))
def test_duplicated_and_reordered_delivery_ends_the_same(seed):
    """Random order and 40% duplicates: same statuses, journals, one model call per step."""
    reference = _world()
    _run(reference)
    h = _world()
    finished = _run(h, random.Random(seed), duplicate=0.4)
    assert _outcome(h) == _outcome(reference)
    assert [len(h.models[m].requests) for m in ("m1", "m2")] == [2, 1]
    assert len({e.get_id() for e in finished}) == 2, "one run.finished per run (by id)"


def test_every_event_the_chain_emits_meets_the_catalogue():
    """Each event of a run with tools, a sub-agent and an answer validates against its schema."""
    h = _world()
    _run(h)
    assert {e.get_type() for e in h.seen} >= {
        types.RESOURCE_ADD,
        types.RUN_ACCEPTED,
        types.LLM_REQUESTED,
        types.TOOL_REQUESTED,
        types.TOOL_COMPLETED,
        types.RUN_COMPLETED,
        types.RUN_FINISHED,
    }
    for event in h.seen:
        validate_data(event.get_type(), data_of(event))


def _essentials(h: Harness):
    """What a user reads of each run, without times: phase, answer, counts, journal."""
    state = {}
    for run in h.store.list("AgentRun"):
        st = run["status"]
        name = "child" if run["spec"].get("parent") else run["metadata"]["name"]
        kept = (st["phase"], st.get("result"), st["tokenUsage"], st.get("toolCalls"), st["step"])
        state[name] = (kept, dict(h.store.read_journal(run)))
    return state


@pytest.mark.parametrize("seed", range(15))
def test_lost_emits_are_repaired_from_the_record(seed):
    """30% of published events lost: sweep re-publishes each run's needs; the same end, once."""
    reference = _world()
    _run(reference)
    h = _world()
    h.settle([h.added()], random.Random(seed), lose=0.3)
    assert _essentials(h) == _essentials(reference)
    assert [len(h.models[m].requests) for m in ("m1", "m2")] == [2, 1]


def test_every_event_is_about_its_run_with_a_deterministic_id():
    """Source is /baton/runs/<ns>/<name>; the id is <uid>/<step>/<type>[/<key>]."""
    h = _world()
    _run(h)
    uids = {r["metadata"]["name"]: r["metadata"]["uid"] for r in h.store.list("AgentRun")}
    run_events = [e for e in h.seen if e.get_type() != types.RESOURCE_ADD]
    assert run_events
    for event in run_events:
        data = data_of(event)
        name = data["run"]["name"]
        assert event.get_source() == f"/baton/runs/default/{name}"
        prefix = f"{uids[name]}/{data['step']}/{event.get_type().removeprefix('dev.baton.')}"
        assert event.get_id() == prefix or event.get_id().startswith(prefix + "/")
        if "toolCallId" in data:
            assert event.get_id() == f"{prefix}/{data['toolCallId']}"
