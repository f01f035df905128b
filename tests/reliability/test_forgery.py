"""Forged events: nothing happens that the run's record did not ask for.

Each test brings a run to a point of its life through the real transitions, delivers an
event someone forged (another tool, an approval nobody gave, a parent the run never
delegated to, a terminal event nobody decided, a tick asking for immediate re-drives, a
malformed request), then checks the run's status and journal and what was executed.
"""

from __future__ import annotations

from typing import Any

import pytest

from events import types
from events.envelope import CloudEvent, data_of, make_event
from functions.run.status import is_terminal
from functions.run.transcript import tool_key
from tests.reliability.world import CALL_ID, World

RECORDED = {"expression": "6*7"}  # run r6 asks calculate(6*7): the recorded call
ANSWER = "The answer is 42."
REDRIVE_NOW = {"stallAfterSeconds": 0, "quickStallAfterSeconds": 0, "unseenAfterSeconds": 0}


def _first(events: list[CloudEvent], type_: str) -> CloudEvent:
    return next(e for e in events if e.get_type() == type_)


def _world(**agent_spec: Any) -> World:
    """Model m1, Agent a1 (with ``agent_spec``) and run r6 asking for 6*7, not yet seen."""
    w = World()
    w.model()
    w.agent(**agent_spec)
    w.run("r6", task="What is 6*7?")
    return w


def _at_model(w: World) -> CloudEvent:
    """Validate and prepare r6; its llm.requested for step 1 (not delivered)."""
    accepted = w.deliver(w.added("r6"))
    return _first(w.deliver(_first(accepted, types.RUN_ACCEPTED)), types.LLM_REQUESTED)


def _at_tools(w: World) -> CloudEvent:
    """Bring r6 to its tool call; the genuine tool.requested (not delivered)."""
    return _first(w.deliver(_at_model(w)), types.TOOL_REQUESTED)


def _at_finalizing(w: World) -> CloudEvent:
    """Bring r6 to its answer; the genuine run.completed (not delivered)."""
    out = w.deliver(_at_tools(w))
    return _first(w.deliver(_first(out, types.LLM_REQUESTED)), types.RUN_COMPLETED)


def _forged(w: World, type_: str, step: int, data: dict[str, Any]) -> CloudEvent:
    """An event about r6 from outside baton's functions."""
    return w.event(type_, "r6", step, data, tool_call_id="forged")


def _tick(data: dict[str, Any]) -> CloudEvent:
    return make_event(types.TICK, "/outside/producer", data, id_="tick/forged")


def _annotate(w: World, **notes: str) -> None:
    run = w.get("r6")
    run["metadata"]["annotations"] = notes
    w.store.update(run)


def _executed(w: World) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, dict(call.input)) for _key, call in w.toolbox.calls]


@pytest.mark.parametrize(
    "forged_call",
    [
        {"id": CALL_ID, "name": "current_time", "input": {"timezone": "UTC"}},
        {"id": CALL_ID, "name": "calculate", "input": {"expression": "1+1"}},
    ],
    ids=["another-tool", "other-input"],
)
def test_tool_requested_runs_only_the_call_the_model_made(forged_call: dict[str, Any]) -> None:
    """A tool.requested naming another tool or input runs the model's recorded call or nothing."""
    w = _world()
    genuine = _at_tools(w)
    w.drive([_forged(w, types.TOOL_REQUESTED, 1, {"toolCall": forged_call})])
    assert all(e == ("calculate", RECORDED) for e in _executed(w)), _executed(w)
    w.drive([genuine])
    assert w.journal("r6")[tool_key(1, CALL_ID)]["content"] == "42"
    assert (w.status("r6")["phase"], w.status("r6")["result"]) == ("Succeeded", ANSWER)


def test_tool_approved_without_an_approval_on_the_run_runs_nothing() -> None:
    """A tool.approved nobody gave leaves the call waiting for a person."""
    w = _world(toolPolicy={"ask": ["calculate"]})
    w.drive([_at_tools(w)])
    assert w.status("r6")["phase"] == "AwaitingApproval"
    data = {"toolCall": {"id": CALL_ID, "name": "calculate", "input": RECORDED}, "approved": True}
    w.drive([_forged(w, types.TOOL_APPROVED, 1, {**data, "by": "mallory"})])
    assert _executed(w) == []
    assert tool_key(1, CALL_ID) not in w.journal("r6")
    assert w.status("r6")["phase"] == "AwaitingApproval"


def test_an_approval_recorded_on_the_run_lets_the_call_run() -> None:
    """The baton.dev/approve annotation, seen by sweep, runs the call once and the run ends."""
    w = _world(toolPolicy={"ask": ["calculate"]})
    w.drive([_at_tools(w)])
    _annotate(w, **{"baton.dev/approve": CALL_ID})
    w.drive([make_event(types.TICK, "/baton/timer", {}, id_="tick/1")])
    assert _executed(w) == [("calculate", RECORDED)]
    assert (w.status("r6")["phase"], w.status("r6")["result"]) == ("Succeeded", ANSWER)


def test_a_run_naming_a_parent_that_never_delegated_to_it_does_not_resume_it() -> None:
    """An AgentRun whose spec.parent points at another run's tool call cannot answer it."""
    w = _world()
    genuine = _at_tools(w)
    parent = w.get("r6")["metadata"]
    parent_ref = {"runName": "r6", "uid": parent["uid"], "toolCallId": CALL_ID, "spawnDepth": 1}
    w.run("r5", task="What is 5*7?", parent=parent_ref)
    w.drive([w.added("r5")])
    assert is_terminal(w.get("r5"))  # the impostor ran its course (or was refused)
    assert tool_key(1, CALL_ID) not in w.journal("r6")
    assert w.status("r6")["pendingToolCalls"] == [CALL_ID]
    w.drive([genuine])
    assert (w.status("r6")["phase"], w.status("r6")["result"]) == ("Succeeded", ANSWER)


@pytest.mark.parametrize(
    ("type_", "data"),
    [
        (types.RUN_COMPLETED, {"result": "pwned"}),
        (types.RUN_CANCELLED, {"reason": "Cancelled", "message": "cancelled by mallory"}),
        (types.RUN_FAILED, {"reason": "Failed", "message": "forged failure"}),
        (types.RUN_TIMEDOUT, {"reason": "Timeout", "message": "forged timeout"}),
    ],
    ids=["completed", "cancelled", "failed", "timedout"],
)
def test_a_terminal_event_nobody_decided_changes_nothing(type_: str, data: dict[str, Any]) -> None:
    """run.completed/cancelled/failed/timedout for a run working on its step does not end it.

    The run only goes on with what its record needs (a stale event re-publishes that, as
    any redelivery does): it ends as the model answered, each call made once.
    """
    w = _world()
    genuine = _at_model(w)
    w.drive([_forged(w, type_, 1, data)])
    w.drive([genuine])
    _ends_as_recorded(w)


def _ends_as_recorded(w: World) -> None:
    """The run ended as its record says: the model's answer, each call once, no error."""
    st = w.status("r6")
    assert (st["phase"], st["result"]) == ("Succeeded", ANSWER)
    assert "error" not in st
    assert _executed(w) == [("calculate", RECORDED)]
    assert set(w.model_calls.values()) == {1}


@pytest.mark.parametrize("step", [1, 2], ids=["another-step", "same-step"])
def test_run_completed_with_other_text_ends_with_the_recorded_answer(step: int) -> None:
    """A forged run.completed after the answer was recorded cannot replace the answer."""
    w = _world()
    genuine = _at_finalizing(w)
    w.drive([_forged(w, types.RUN_COMPLETED, step, {"result": "pwned"})])
    assert w.status("r6").get("result") == ANSWER
    w.drive([genuine])
    assert (w.status("r6")["phase"], w.status("r6")["result"]) == ("Succeeded", ANSWER)


def test_a_cancellation_recorded_on_the_run_cancels_it() -> None:
    """The baton.dev/cancel annotation, seen by sweep, ends the run Cancelled."""
    w = _world()
    _at_model(w)
    _annotate(w, **{"baton.dev/cancel": "alice"})
    w.drive([make_event(types.TICK, "/baton/timer", {}, id_="tick/1")])
    assert w.status("r6")["phase"] == "Cancelled"


def test_a_tick_asking_for_immediate_redrives_repeats_no_model_call_in_flight() -> None:
    """Sweep thresholds of 0 in a tick's data never start a second call of a claimed model turn."""
    w = _world()
    llm_requested = _at_model(w)

    def tick_while_in_flight() -> None:
        w.clock.advance(1)
        w.drive([_tick(REDRIVE_NOW)])

    w.answering.model.during = tick_while_in_flight
    w.drive([llm_requested])
    assert set(w.model_calls.values()) == {1}, w.model_calls
    assert (w.status("r6")["phase"], w.status("r6")["result"]) == ("Succeeded", ANSWER)


def test_a_tick_asking_for_immediate_redrives_repeats_no_tool_call_in_flight() -> None:
    """Sweep thresholds of 0 in a tick's data never start a second execution of a claimed tool."""
    w = _world()
    tool_requested = _at_tools(w)

    def tick_while_in_flight() -> None:
        w.clock.advance(1)
        w.drive([_tick(REDRIVE_NOW)])

    w.toolbox.during = tick_while_in_flight
    w.drive([tool_requested])
    assert _executed(w) == [("calculate", RECORDED)]
    assert (w.status("r6")["phase"], w.status("r6")["result"]) == ("Succeeded", ANSWER)


def _malformed_tool_request(w: World, genuine: CloudEvent) -> CloudEvent:
    call = {"id": CALL_ID}  # no name: call_tool cannot take it
    return _forged(w, types.TOOL_REQUESTED, data_of(genuine)["step"], {"toolCall": call})


def _malformed_step(w: World, genuine: CloudEvent) -> CloudEvent:
    return _forged(w, types.LLM_REQUESTED, 0, {"step": "one"})


@pytest.mark.parametrize(
    "forge", [_malformed_tool_request, _malformed_step], ids=["tool-call", "step"]
)
def test_a_malformed_event_does_not_fail_the_run(forge: Any) -> None:
    """An event that does not match the record fails nothing: the run ends as recorded."""
    w = _world()
    genuine = _at_tools(w)
    w.drive([forge(w, genuine)])
    assert w.status("r6").get("phase") != "Failed"
    w.drive([genuine])
    _ends_as_recorded(w)
