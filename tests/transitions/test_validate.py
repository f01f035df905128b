"""validate: an added AgentRun is accepted, held Pending, or rejected."""

from __future__ import annotations

import pytest

from events import types
from events.apiserver import resource_event
from events.envelope import data_of
from functions import validate
from functions.run.status import Stage


def test_accepts_a_valid_run(h):
    """A run whose Agent and Model exist goes Running/Accepted and emits run.accepted."""
    run = h.world()
    out = validate.handle(h.added(), h.deps)
    st = h.status()
    assert (st["phase"], st["stage"], st["step"]) == ("Running", Stage.ACCEPTED, 0)
    assert st["startedAt"] and st["traceID"]
    assert st["tokenUsage"]["total"] == 0
    assert {c["type"]: c["status"] for c in st["conditions"]} == {"Accepted": "True"}
    assert [e.get_type() for e in out] == [types.RUN_ACCEPTED]
    assert out[0].get_id() == f"{run['metadata']['uid']}/0/run.accepted"
    assert out[0].get_source() == "/baton/runs/default/r1"
    assert data_of(out[0])["run"]["name"] == "r1"
    assert out[0].get_extension("traceparent").split("-")[1] == st["traceID"]


def test_holds_a_run_whose_agent_is_missing(h):
    """A missing Agent leaves the run Pending with a reason naming it, and emits nothing."""
    h.model()
    h.run(agent="ghost")
    assert validate.handle(h.added(), h.deps) == []
    st = h.status()
    cond = st["conditions"][0]
    assert st["phase"] == "Pending"
    assert (cond["type"], cond["status"], cond["reason"]) == ("Accepted", "False", "AgentNotFound")
    assert "ghost" in cond["message"]


def test_holds_a_run_whose_model_is_missing(h):
    """A missing Model leaves the run Pending with reason ModelNotFound naming the model."""
    h.agent(model="nowhere")
    h.run()
    assert validate.handle(h.added(), h.deps) == []
    cond = h.status()["conditions"][0]
    assert cond["reason"] == "ModelNotFound" and "nowhere" in cond["message"]


def test_a_held_run_is_accepted_once_its_reference_appears(h):
    """Pending is not final: the next delivery after the Agent exists accepts the run."""
    h.model()
    h.run()
    validate.handle(resource_event("ADDED", h.get()), h.deps)
    writes = h.store.status_writes
    validate.handle(resource_event("ADDED", h.get()), h.deps)
    assert h.store.status_writes == writes, "an unchanged Pending reason is not rewritten"
    h.agent()
    out = validate.handle(h.added(), h.deps)
    assert [e.get_type() for e in out] == [types.RUN_ACCEPTED]
    assert h.status()["phase"] == "Running"


def test_rejects_an_empty_task(h):
    """A task-mode run with a blank task is sent to finalize as failed (InvalidSpec)."""
    h.model()
    h.agent()
    h.run(task="   ")
    out = validate.handle(h.added(), h.deps)
    assert [e.get_type() for e in out] == [types.RUN_FAILED]
    assert data_of(out[0])["reason"] == "InvalidSpec"
    st = h.status()
    assert st["stage"] == Stage.FINALIZING and st["error"]["reason"] == "InvalidSpec"
    assert st.get("phase", "") != "Running"


def test_rejects_a_spawn_depth_over_the_agents_max_depth(h):
    """A child run deeper than subagents.maxDepth fails with SpawnDepthExceeded."""
    h.model()
    h.agent(subagents={"maxDepth": 1})
    h.run(parent={"runName": "p", "uid": "u", "spawnDepth": 2, "toolCallId": "t"})
    out = validate.handle(h.added(), h.deps)
    assert [e.get_type() for e in out] == [types.RUN_FAILED]
    assert data_of(out[0])["reason"] == "SpawnDepthExceeded"
    assert "maxDepth 1" in data_of(out[0])["message"]


def test_a_rejected_run_is_not_rejected_twice(h):
    """A redelivered add of a rejected run writes nothing; it repeats the same run.failed."""
    h.model()
    h.agent()
    h.run(task="")
    (first,) = validate.handle(h.added(), h.deps)
    before = h.get()
    again = validate.handle(h.added(), h.deps)
    assert [e.get_id() for e in again] == [first.get_id()], "the same need, deduped by id"
    assert h.get() == before


def test_ignores_other_kinds(h):
    """An Agent being added is not validate's business."""
    agent = h.agent()
    assert validate.handle(resource_event("ADDED", agent), h.deps) == []


def test_ignores_a_run_already_running(h):
    """A second add of an accepted run changes nothing; it repeats the run's need, same id."""
    h.world()
    (accepted,) = validate.handle(h.added(), h.deps)
    before = h.get()
    again = validate.handle(h.added(), h.deps)
    assert [e.get_id() for e in again] == [accepted.get_id()]
    assert h.get() == before


def test_a_second_add_after_the_run_moved_on_repeats_only_its_current_need(h):
    """An add redelivered once the run is in its model turn repairs that need, not run.accepted."""
    h.world()
    h.prepared()
    (need,) = validate.handle(h.added(), h.deps)
    assert (need.get_type(), data_of(need)["step"]) == (types.LLM_REQUESTED, 1)


def test_ignores_an_add_for_a_replaced_run(h):
    """An add carrying an older run's uid (deleted, recreated) does not touch the new run."""
    h.world()
    stale = h.added()
    h.store.delete("AgentRun", "default", "r1")
    h.run()
    assert validate.handle(stale, h.deps) == []
    assert h.status() == {}


def test_reference_mode_events_work(h):
    """A Reference-mode add (no object, just its name) accepts the run read from the store."""
    run = h.world()
    event = resource_event("ADDED", run, reference=True)
    out = validate.handle(event, h.deps)
    assert [e.get_type() for e in out] == [types.RUN_ACCEPTED]
    assert h.status()["phase"] == "Running"


def test_a_run_pending_past_its_timeout_fails_naming_the_missing_reference(h):
    """Held past spec.timeout since creation: Failed, with the reference it waited for."""
    h.model()
    h.run(agent="ghost", timeout="1m")
    assert validate.handle(h.added(), h.deps) == []
    h.clock.advance(59)
    assert validate.handle(h.added(), h.deps) == []
    h.clock.advance(2)
    (failed,) = validate.handle(h.added(), h.deps)
    assert failed.get_type() == types.RUN_FAILED
    st = h.status()
    assert (st["stage"], st["outcome"]["phase"]) == (Stage.FINALIZING, "Failed")
    assert st["error"]["reason"] == "AgentNotFound"
    assert "ghost" in st["error"]["message"] and "60s" in st["error"]["message"]
    h.deliver(failed)
    assert h.status()["phase"] == "Failed"


def test_a_run_without_timeout_waits_the_pending_deadline(h):
    """No spec.timeout: a run waits validate.PENDING_DEADLINE for its reference, then fails."""
    h.agent(model="nowhere")
    h.run()
    validate.handle(resource_event("ADDED", h.get()), h.deps)
    h.clock.advance(validate.PENDING_DEADLINE - 1)
    assert validate.handle(h.added(), h.deps) == []
    assert h.status()["phase"] == "Pending"
    h.clock.advance(2)
    (failed,) = validate.handle(h.added(), h.deps)
    assert failed.get_type() == types.RUN_FAILED
    assert h.status()["error"]["reason"] == "ModelNotFound"
    assert "nowhere" in h.status()["error"]["message"]


@pytest.mark.parametrize(
    ("field", "value"), [("timeout", "0s"), ("idleTTL", "0s"), ("timeout", "soon")]
)
def test_a_zero_or_unparsable_duration_is_an_invalid_spec(h, field, value):
    """timeout/idleTTL of 0s or not a duration: the run fails with InvalidSpec naming the field."""
    h.model()
    h.agent()
    h.run(**{field: value})
    (failed,) = validate.handle(h.added(), h.deps)
    assert failed.get_type() == types.RUN_FAILED
    error = h.status()["error"]
    assert error["reason"] == "InvalidSpec" and f"spec.{field}" in error["message"]


def test_an_agent_timeout_of_zero_fails_the_run_rather_than_meaning_none(h):
    """limits.timeout 0s on the Agent would read as "no timeout": the run fails naming it."""
    h.model()
    h.agent(limits={"maxTurns": 5, "timeout": "0s"})
    h.run()
    validate.handle(resource_event("ADDED", h.get()), h.deps)
    st = h.status()
    assert st["outcome"]["phase"] == "Failed"
    assert st["error"]["reason"] == "InvalidSpec"
    assert "spec.limits.timeout: must be longer than 0s" in st["error"]["message"]
