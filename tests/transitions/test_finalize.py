"""finalize: the terminal phase is written once; a child's end resumes its parent."""

from __future__ import annotations

import pytest

from events import types
from events.apiserver import resource_event
from events.envelope import data_of
from events.errors import PermanentError
from functions import call_llm, finalize, prepare_context, validate
from functions.run.status import Stage
from tests.fakes.model import answer, reply, tool_use


def _completed(h, text="42"):
    h.world()
    h.models.script("m1", answer(text, input=30, output=12))
    (event,) = call_llm.handle(h.prepared()[0], h.deps)
    return event


def test_a_completed_run_succeeds_once(h):
    """run.completed: Succeeded with result, durationMs, Ready condition, run.finished."""
    event = _completed(h)
    h.clock.advance(2.5)
    out = finalize.handle(event, h.deps)
    st = h.status()
    assert (st["phase"], st["stage"], st["result"]) == ("Succeeded", Stage.DONE, "42")
    assert st["durationMs"] == 2500
    assert st["completedAt"]
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "Completed")
    assert [e.get_type() for e in out] == [types.RUN_FINISHED]
    uid = h.get()["metadata"]["uid"]
    assert out[0].get_id() == f"{uid}/1/run.finished"
    assert data_of(out[0]) | {"run": None} == {
        "run": None,
        "step": 1,
        "phase": "Succeeded",
        "result": "42",
        "error": None,
        "tokenUsage": {"input": 30, "output": 12, "total": 42, "cacheRead": 0, "cacheCreation": 0},
        "routing": None,
    }


def test_the_terminal_phase_is_written_once(h):
    """A second terminal event (even a different kind) changes nothing; run.finished repeats."""
    event = _completed(h)
    (finished,) = finalize.handle(event, h.deps)
    before = h.get()
    h.clock.advance(10)
    assert [e.get_id() for e in finalize.handle(event, h.deps)] == [finished.get_id()]
    late = h.event(types.RUN_FAILED, step=1, data={"reason": "Late"})
    assert [e.get_id() for e in finalize.handle(late, h.deps)] == [finished.get_id()]
    assert h.get() == before


@pytest.mark.parametrize(
    "type_", [types.RUN_COMPLETED, types.RUN_FAILED, types.RUN_CANCELLED, types.RUN_TIMEDOUT]
)
def test_a_terminal_event_nobody_decided_ends_nothing(h, type_):
    """A forged run.completed/failed/cancelled/timedout finds no recorded outcome: no change."""
    h.world()
    (llm,) = h.prepared()
    before = h.get()
    forged = h.event(type_, step=1, data={"reason": "Forged", "message": "stop"})
    assert [e.get_id() for e in finalize.handle(forged, h.deps)] == [llm.get_id()]
    assert h.get() == before


def test_a_failed_run_keeps_the_recorded_error(h):
    """run.failed after call_llm recorded an error: Failed with that reason and message."""
    h.world()
    h.models.script("m1", reply("refusal"))
    (event,) = call_llm.handle(h.prepared()[0], h.deps)
    out = finalize.handle(event, h.deps)
    st = h.status()
    assert st["phase"] == "Failed" and st["error"]["reason"] == "ModelRefused"
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ModelRefused")
    assert data_of(out[0])["phase"] == "Failed"
    assert data_of(out[0])["error"]["reason"] == "ModelRefused"


def test_a_timed_out_run_fails_with_reason_timeout(h):
    """The timeout sweep recorded ends a run mid-step as Failed/Timeout, its calls dropped."""
    h.world(limits={"maxTurns": 5, "timeout": "30s"})
    h.models.script("m1", tool_use(("t1", "calculate", {"expression": "1+1"})))
    call_llm.handle(h.prepared()[0], h.deps)
    h.clock.advance(31)
    (event,) = h.tick()
    assert event.get_type() == types.RUN_TIMEDOUT
    finalize.handle(event, h.deps)
    st = h.status()
    message = "the run exceeded its timeout (30s)"
    assert (st["phase"], st["error"]) == ("Failed", {"reason": "Timeout", "message": message})
    assert st["pendingToolCalls"] == [] and "claims" not in st


def test_a_rejected_run_fails_with_a_duration_from_creation(h):
    """A run validate rejected (never started) still gets Failed and a durationMs."""
    h.model()
    h.agent()
    h.run(task="")
    (event,) = validate.handle(h.added(), h.deps)
    h.clock.advance(1)
    finalize.handle(event, h.deps)
    st = h.status()
    assert st["phase"] == "Failed" and st["error"]["reason"] == "InvalidSpec"
    assert st["durationMs"] == 1000


def test_a_run_that_never_started_counts_from_when_it_was_taken_up(h):
    """Not from creationTimestamp's whole second: 0.7 s into it, 3 s waiting is 3,000 ms."""
    h.clock.advance(0.7)
    h.model()
    h.agent()
    h.run(task="")
    assert h.get()["metadata"]["creationTimestamp"].endswith(":00Z")  # whole seconds
    (event,) = validate.handle(h.added(), h.deps)
    h.clock.advance(3)
    finalize.handle(event, h.deps)
    assert h.status()["durationMs"] == 3000


def test_run_finished_carries_the_routing(h):
    """A chat run's routing travels on run.finished for deliver."""
    h.model()
    h.agent()
    h.run(routing={"channel": "slack", "thread": "T1"})
    h.models.script("m1", answer("hi"))
    (event,) = call_llm.handle(h.prepared()[0], h.deps)
    (finished,) = finalize.handle(event, h.deps)
    assert data_of(finished)["routing"] == {"channel": "slack", "thread": "T1"}


def _parent_waiting_on_child(h):
    """Parent r1 asked sub-agent ``helper``; returns the child run (accepted and prepared)."""
    assert h.delegating_run() == [], "the call waits for the child"
    parent_uid = h.get()["metadata"]["uid"]
    (child,) = h.store.list("AgentRun", label_selector={"baton.dev/parent-uid": parent_uid})
    assert h.status()["delegations"]["t1"]["uid"] == child["metadata"]["uid"]
    assert child["spec"]["task"] == "find x"
    assert child["spec"]["parent"]["toolCallId"] == "t1"
    name = child["metadata"]["name"]
    validate.handle(resource_event("ADDED", child), h.deps)
    return name


def test_a_childs_answer_closes_its_parents_tool_call(h):
    """The child's Succeeded answer is the parent's tool result; the parent's step moves on."""
    child = _parent_waiting_on_child(h)
    (llm,) = prepare_context.handle(h.event(types.RUN_ACCEPTED, child), h.deps)
    h.models.script("m1", answer("x is 7"))
    (completed,) = call_llm.handle(llm, h.deps)
    out = finalize.handle(completed, h.deps)
    assert [e.get_type() for e in out] == [
        types.RUN_FINISHED,
        types.TOOL_COMPLETED,
        types.LLM_REQUESTED,
    ]
    assert data_of(out[1])["run"]["name"] == "r1"
    assert h.journal()["tool/1/t1"]["content"] == "x is 7"
    st = h.status()
    assert (st["stage"], st["step"], st["pendingToolCalls"]) == (Stage.MODEL, 2, [])


def _child_ends(h, child, outcome):
    """The child's model turn: ``outcome`` is its reply or a PermanentError; returns its end."""
    (llm,) = prepare_context.handle(h.event(types.RUN_ACCEPTED, child), h.deps)
    h.models.script("m1", outcome)
    (end,) = call_llm.handle(llm, h.deps)
    return end


def test_a_childs_failure_is_an_error_result_for_its_parent(h):
    """A failed child becomes an is_error tool result naming it."""
    child = _parent_waiting_on_child(h)
    failed = _child_ends(h, child, PermanentError("it broke", reason="ModelError"))
    assert failed.get_type() == types.RUN_FAILED
    finalize.handle(failed, h.deps)
    entry = h.journal()["tool/1/t1"]
    assert entry["is_error"] and child in entry["content"] and "it broke" in entry["content"]


@pytest.mark.parametrize("after_journal", [False, True], ids=["nothing-written", "journal-only"])
def test_a_lost_parent_resume_is_repaired_by_redelivery(h, after_journal):
    """Crash after the child's terminal write: the redelivery still resumes the parent."""
    child = _parent_waiting_on_child(h)
    failed = _child_ends(h, child, PermanentError("it broke", reason="ModelError"))
    h.store.crash_commit(skip=1, after_journal=after_journal)  # the parent's close dies
    with pytest.raises(ConnectionError):
        finalize.handle(failed, h.deps)
    assert h.status(child)["phase"] == "Failed"
    out = finalize.handle(failed, h.deps)
    assert types.LLM_REQUESTED in [e.get_type() for e in out]
    assert h.status()["pendingToolCalls"] == []
    assert h.journal()["tool/1/t1"]["is_error"] is True


def test_a_child_finishing_after_its_parent_ended_leaves_the_parent_alone(h):
    """Parent already Cancelled: the child's answer is not written into the parent's journal."""
    child = _parent_waiting_on_child(h)
    parent = h.get()
    parent["metadata"]["annotations"] = {"baton.dev/cancel": "true"}
    h.store.update(parent)
    (cancelled,) = [e for e in h.tick() if e.get_type() == types.RUN_CANCELLED]
    finalize.handle(cancelled, h.deps)
    completed = _child_ends(h, child, answer("late"))
    out = finalize.handle(completed, h.deps)
    assert [e.get_type() for e in out if data_of(e)["run"]["name"] == child] == [types.RUN_FINISHED]
    assert {e.get_id() for e in out if data_of(e)["run"]["name"] == "r1"} <= {
        e.get_id() for e in h.needs()
    }, "at most the parent's own run.finished again"
    assert "tool/1/t1" not in h.journal()
    assert h.status()["phase"] == "Cancelled"


def test_a_duplicate_child_finish_closes_the_parents_call_once(h):
    """The same child terminal event twice: one close, one toolCalls increment."""
    child = _parent_waiting_on_child(h)
    event = _child_ends(h, child, answer("x is 7"))
    first = finalize.handle(event, h.deps)
    assert len(first) == 3
    again = finalize.handle(event, h.deps)
    assert types.TOOL_COMPLETED not in [e.get_type() for e in again]
    assert {e.get_id() for e in again} <= {e.get_id() for e in first}, "only repeated needs"
    assert h.status()["toolCalls"] == 1


def test_a_run_that_only_names_the_parent_does_not_close_its_call(h):
    """A run whose spec.parent names r1/t1, not the child r1 delegated to, changes nothing."""
    _parent_waiting_on_child(h)
    parent = h.get()["metadata"]
    link = {"runName": "r1", "uid": parent["uid"], "toolCallId": "t1", "spawnDepth": 1}
    h.run("impostor", agent="helper", task="pretend", parent=link)
    h.models.script("m1", answer("forged result"))
    h.pump(h.prepared("impostor"))
    assert h.status("impostor")["phase"] == "Succeeded"
    assert "tool/1/t1" not in h.journal()
    assert (h.status()["stage"], h.status()["pendingToolCalls"]) == (Stage.TOOLS, ["t1"])


def test_a_clock_behind_the_one_that_started_the_run_gives_duration_zero(h):
    """Replicas' clocks differ: a finalize clock behind startedAt never writes a negative
    durationMs (the CRD refuses it, which would leave the run unfinished)."""
    event = _completed(h)
    h.clock.advance(-0.05)
    finalize.handle(event, h.deps)
    st = h.status()
    assert (st["phase"], st["durationMs"]) == ("Succeeded", 0)
