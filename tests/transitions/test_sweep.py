"""sweep: the safety net re-emits what stalled runs wait for, times out and prunes."""

from __future__ import annotations

from events import types
from events.envelope import data_of, make_event
from functions import call_llm, call_tool, prepare_context, sweep, validate
from functions.agentrun import Stage, rfc3339
from tests.fakes.model import answer, reply, tool_use


def tick(h, **data):
    """Run sweep once with ``data`` thresholds."""
    return sweep.handle(make_event(types.TICK, "/test/tick", data or None), h.deps)


def kinds(events):
    return [(e.get_type(), data_of(e).get("step")) for e in events]


def test_a_run_making_progress_is_left_alone(h):
    """Nothing is re-emitted before stallAfterSeconds."""
    h.world()
    h.prepared()
    h.clock.advance(299)
    assert tick(h) == []


def test_a_stalled_accepted_run_gets_run_accepted_again(h):
    """Stage Accepted past the stall threshold: run.accepted is re-emitted and works."""
    h.world()
    validate.handle(h.added(), h.deps)
    h.clock.advance(301)
    out = tick(h)
    assert kinds(out) == [(types.RUN_ACCEPTED, 0)]
    uid = h.get()["metadata"]["uid"]
    assert out[0].get_id().startswith(f"{uid}/0/sweep/redrive-")
    assert kinds(h.deliver(out[0])) == [(types.LLM_REQUESTED, 1)]


def test_a_stalled_model_stage_gets_llm_requested_again(h):
    """Stage Model: llm.requested for the run's step; delivering it calls the model."""
    h.world()
    h.prepared()
    h.clock.advance(301)
    out = tick(h)
    assert kinds(out) == [(types.LLM_REQUESTED, 1)]
    h.models.script("m1", answer("42"))
    assert kinds(h.deliver(out[0])) == [(types.RUN_COMPLETED, 1)]


def test_a_stalled_tools_stage_gets_its_pending_calls_again(h):
    """Stage Tools: one tool.requested per call still pending, none for closed ones."""
    h.world()
    h.models.script(
        "m1",
        tool_use(
            ("t1", "calculate", {"expression": "1+1"}), ("t2", "calculate", {"expression": "2"})
        ),
    )
    first, _ = call_llm.handle(h.prepared()[0], h.deps)
    call_tool.handle(first, h.deps)
    h.clock.advance(301)
    out = tick(h)
    assert [data_of(e)["toolCall"]["id"] for e in out] == ["t2"]
    assert data_of(out[0])["toolCall"] == {
        "id": "t2",
        "name": "calculate",
        "input": {"expression": "2"},
    }
    assert kinds(h.deliver(out[0])) == [(types.TOOL_COMPLETED, 1), (types.LLM_REQUESTED, 2)]


def test_a_stalled_finalizing_run_gets_its_terminal_event_again(h):
    """Stage Finalizing: run.completed with the result, or run.failed with the error."""
    h.world()
    h.run("r2")
    validate.handle(h.added("r2"), h.deps)
    h.models.script("m1", answer("42"), reply("refusal"))
    call_llm.handle(h.prepared()[0], h.deps)
    call_llm.handle(prepare_context.handle(h.event(types.RUN_ACCEPTED, "r2"), h.deps)[0], h.deps)
    h.clock.advance(301)
    out = {data_of(e)["run"]["name"]: e for e in tick(h)}
    assert out["r1"].get_type() == types.RUN_COMPLETED
    assert data_of(out["r1"])["result"] == "42"
    assert out["r2"].get_type() == types.RUN_FAILED
    assert data_of(out["r2"])["reason"] == "ModelRefused"
    h.deliver(out["r1"])
    assert h.status()["phase"] == "Succeeded"


def test_a_run_awaiting_approval_is_not_redriven(h):
    """A person may take their time: AwaitingApproval is not a stall."""
    h.world(toolPolicy={"ask": ["calculate"]})
    h.models.script("m1", tool_use(("t1", "calculate", {"expression": "1"})))
    (req,) = call_llm.handle(h.prepared()[0], h.deps)
    call_tool.handle(req, h.deps)
    h.clock.advance(3600)
    assert tick(h) == []


def test_a_pending_run_is_redriven_to_validate(h):
    """A Pending run gets its add event again, so it proceeds once its Agent exists."""
    h.model()
    h.run()
    validate.handle(h.added(), h.deps)
    h.agent()
    (event,) = tick(h)
    assert event.get_type() == types.RESOURCE_ADD
    assert kinds(h.deliver(event)) == [(types.RUN_ACCEPTED, 0)]


def test_a_run_never_seen_is_redriven_after_a_grace_period(h):
    """A run whose add event was lost (no status at all) is re-announced after unseenAfter."""
    h.world()
    assert tick(h) == [], "a brand-new run still has its own add event in flight"
    h.clock.advance(11)
    (event,) = tick(h)
    assert event.get_type() == types.RESOURCE_ADD
    assert data_of(event)["metadata"]["name"] == "r1"
    assert tick(h, unseenAfterSeconds=60) == []


def test_a_run_past_its_timeout_is_timed_out(h):
    """spec.timeout exceeded mid-step: run.timedout, which finalize turns into Failed."""
    h.world()
    run = h.get()
    run["spec"]["timeout"] = "1m"
    h.store.update(run)
    h.prepared()
    h.clock.advance(61)
    (event,) = tick(h)
    assert event.get_type() == types.RUN_TIMEDOUT
    assert data_of(event)["reason"] == "Timeout"
    h.deliver(event)
    assert (h.status()["phase"], h.status()["error"]["reason"]) == ("Failed", "Timeout")


def test_the_agents_timeout_applies_when_the_run_has_none(h):
    """limits.timeout of the Agent bounds runs that set no timeout themselves."""
    h.world(limits={"maxTurns": 5, "timeout": "30s"})
    h.prepared()
    h.clock.advance(31)
    assert [e.get_type() for e in tick(h)] == [types.RUN_TIMEDOUT]


def _terminal(h, name, completed_offset, **spec):
    run = h.run(name, **spec)
    run["status"] = {
        "phase": "Succeeded",
        "stage": Stage.DONE,
        "completedAt": rfc3339(h.clock.now() + completed_offset),
    }
    h.store.update_status(run)


def test_finished_runs_with_cleanup_delete_are_deleted(h):
    """cleanup: delete removes a run once it is terminal; keep leaves it."""
    h.model()
    h.agent()
    _terminal(h, "gone", 0, cleanup="delete")
    _terminal(h, "kept", 0, cleanup="keep")
    tick(h)
    assert [r["metadata"]["name"] for r in h.store.list("AgentRun")] == ["kept"]


def test_history_beyond_the_agents_limit_is_pruned_oldest_first(h):
    """Only the newest runHistoryLimit finished runs of an agent are kept."""
    h.model()
    h.agent(runHistoryLimit=2)
    h.agent("other")
    for i, name in enumerate(["old", "mid", "new"]):
        _terminal(h, name, i)
    _terminal(h, "elsewhere", -100, agent="other")
    h.run("live")
    tick(h)
    names = {r["metadata"]["name"] for r in h.store.list("AgentRun")}
    assert names == {"mid", "new", "elsewhere", "live"}


def test_a_run_held_pending_past_its_timeout_is_timed_out(h):
    """A run waiting for an Agent that never comes still ends when its spec.timeout passes."""
    h.model()
    h.run(timeout="1m")
    validate.handle(h.added(), h.deps)
    h.clock.advance(59)
    assert [e.get_type() for e in tick(h)] == [types.RESOURCE_ADD]
    h.clock.advance(2)
    (event,) = tick(h)
    assert event.get_type() == types.RUN_TIMEDOUT
    h.deliver(event)
    assert (h.status()["phase"], h.status()["error"]["reason"]) == ("Failed", "Timeout")
    assert tick(h) == []


def test_a_run_awaiting_approval_still_times_out(h):
    """Waiting for a person does not suspend the run's timeout."""
    h.world(toolPolicy={"ask": ["calculate"]}, limits={"maxTurns": 5, "timeout": "10m"})
    h.models.script("m1", tool_use(("t1", "calculate", {"expression": "1"})))
    (req,) = call_llm.handle(h.prepared()[0], h.deps)
    call_tool.handle(req, h.deps)
    h.clock.advance(601)
    (event,) = tick(h)
    assert event.get_type() == types.RUN_TIMEDOUT
    h.deliver(event)
    st = h.status()
    assert (st["phase"], st["error"]["reason"]) == ("Failed", "Timeout")


def test_terminal_runs_are_never_redriven(h):
    """A finished run gets no event from sweep, however old."""
    h.world()
    h.models.script("m1", answer("42"))
    h.pump(h.prepared())
    h.clock.advance(10_000)
    assert tick(h) == []
    assert h.status()["phase"] == "Succeeded"


def test_stages_with_no_call_in_flight_are_redriven_sooner(h):
    """Accepted waits on no model or tool: re-driven after 30 s; a Model stage is not."""
    h.world()
    validate.handle(h.added(), h.deps)
    h.clock.advance(31)
    assert kinds(tick(h)) == [(types.RUN_ACCEPTED, 0)]
    h.deliver(tick(h)[0])  # now in the Model stage: a model call may be in flight
    h.clock.advance(31)
    assert tick(h) == []
    assert kinds(tick(h, quickStallAfterSeconds=5, stallAfterSeconds=20)) == [
        (types.LLM_REQUESTED, 1)
    ]
