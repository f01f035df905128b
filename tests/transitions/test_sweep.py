"""sweep: the safety net records what the clock and a person decide, and re-publishes needs."""

from __future__ import annotations

import pytest

from events import types
from events.envelope import data_of, make_event
from functions import call_llm, call_tool, finalize, prepare_context, sweep, validate
from functions.run import claims, steering
from functions.run.status import Stage, rfc3339
from tests.fakes.model import answer, reply, tool_use

QUIET = sweep.QUIET_SECONDS + 0.5


def kinds(events):
    return [(e.get_type(), data_of(e).get("step")) for e in events]


def ids(events):
    return [e.get_id() for e in events]


def test_a_run_making_progress_is_left_alone(h):
    """Nothing is re-published while the run changed within QUIET_SECONDS."""
    h.world()
    h.prepared()
    h.clock.advance(sweep.QUIET_SECONDS - 0.5)
    assert h.tick() == []


def test_a_quiet_accepted_run_gets_run_accepted_again(h):
    """Stage Accepted, quiet: run.accepted again, with the id validate gave it, and it works."""
    h.world()
    (accepted,) = validate.handle(h.added(), h.deps)
    h.clock.advance(QUIET)
    out = h.tick()
    assert ids(out) == [accepted.get_id()]
    assert kinds(h.deliver(out[0])) == [(types.LLM_REQUESTED, 1)]


def test_a_quiet_model_stage_gets_llm_requested_again(h):
    """Stage Model: llm.requested for the run's step, same id; delivering it calls the model."""
    h.world()
    (llm,) = h.prepared()
    h.clock.advance(QUIET)
    out = h.tick()
    assert ids(out) == [llm.get_id()]
    h.models.script("m1", answer("42"))
    assert kinds(h.deliver(out[0])) == [(types.RUN_COMPLETED, 1)]


def test_a_quiet_tools_stage_gets_its_pending_calls_again(h):
    """Stage Tools: one tool.requested per call still pending, none for closed ones."""
    h.world()
    h.models.script(
        "m1",
        tool_use(
            ("t1", "calculate", {"expression": "1+1"}), ("t2", "calculate", {"expression": "2"})
        ),
    )
    first, second = call_llm.handle(h.prepared()[0], h.deps)
    call_tool.handle(first, h.deps)
    h.clock.advance(QUIET)
    out = h.tick()
    assert ids(out) == [second.get_id()]
    assert data_of(out[0])["toolCallId"] == "t2"
    assert kinds(h.deliver(out[0])) == [(types.TOOL_COMPLETED, 1), (types.LLM_REQUESTED, 2)]
    assert h.journal()["tool/1/t2"]["content"] == "2"


def test_a_quiet_finalizing_run_gets_its_terminal_event_again(h):
    """Stage Finalizing: run.completed, or run.failed with the recorded reason."""
    h.world()
    h.run("r2")
    validate.handle(h.added("r2"), h.deps)
    h.models.script("m1", answer("42"), reply("refusal"))
    call_llm.handle(h.prepared()[0], h.deps)
    call_llm.handle(prepare_context.handle(h.event(types.RUN_ACCEPTED, "r2"), h.deps)[0], h.deps)
    h.clock.advance(QUIET)
    out = {data_of(e)["run"]["name"]: e for e in h.tick()}
    assert out["r1"].get_type() == types.RUN_COMPLETED
    assert out["r2"].get_type() == types.RUN_FAILED
    assert data_of(out["r2"])["reason"] == "ModelRefused"
    h.deliver(out["r1"])
    assert (h.status()["phase"], h.status()["result"]) == ("Succeeded", "42")


def test_a_model_call_in_flight_is_not_published_again_until_its_lease_lapses(h):
    """A live claim means someone is on the call: quiet or not, sweep leaves it alone."""
    h.world()
    (llm,) = h.prepared()
    h.store.crash_commit(skip=1, after_journal=False)  # claimed, then the claimer died
    h.models.script("m1", answer("lost"), answer("42"))
    with pytest.raises(ConnectionError):
        call_llm.handle(llm, h.deps)
    h.clock.advance(QUIET)
    assert h.tick() == []
    h.clock.advance(claims.LEASE_SECONDS)
    out = h.tick()
    assert kinds(out) == [(types.LLM_REQUESTED, 1)]
    assert kinds(h.deliver(out[0])) == [(types.RUN_COMPLETED, 1)]


def test_a_run_awaiting_approval_is_not_redriven(h):
    """A person may take their time: a call waiting for approval is nobody's to re-publish."""
    h.world(toolPolicy={"ask": ["calculate"]})
    h.models.script("m1", tool_use(("t1", "calculate", {"expression": "1"})))
    (req,) = call_llm.handle(h.prepared()[0], h.deps)
    call_tool.handle(req, h.deps)
    h.clock.advance(3600)
    assert h.tick() == []


def test_an_approval_annotation_becomes_the_runs_record(h):
    """baton.dev/approve on the run: sweep writes status.approvals and asks for tool.approved."""
    h.world(toolPolicy={"ask": ["calculate"]})
    h.models.script("m1", tool_use(("t1", "calculate", {"expression": "6*7"})))
    (req,) = call_llm.handle(h.prepared()[0], h.deps)
    call_tool.handle(req, h.deps)
    run = h.get()
    run["metadata"]["annotations"] = {steering.APPROVE: "t1", steering.APPROVED_BY: "dana"}
    h.store.update(run)
    (approved,) = h.tick()
    assert (approved.get_type(), data_of(approved)["toolCallId"]) == (types.TOOL_APPROVED, "t1")
    assert h.status()["approvals"] == {"t1": {"approved": True, "by": "dana"}}
    h.deliver(approved)
    assert h.journal()["tool/1/t1"]["content"] == "42"
    assert h.status()["phase"] == "Running"


def test_a_cancel_annotation_ends_the_run_cancelled(h):
    """baton.dev/cancel: the outcome Cancelled is recorded and finalize carries it out."""
    h.world()
    h.prepared()
    run = h.get()
    run["metadata"]["annotations"] = {steering.CANCEL: "erin"}
    h.store.update(run)
    (cancelled,) = h.tick()
    assert cancelled.get_type() == types.RUN_CANCELLED
    assert h.status()["outcome"]["phase"] == "Cancelled"
    finalize.handle(cancelled, h.deps)
    st = h.status()
    assert (st["phase"], st["error"]["message"]) == ("Cancelled", "cancelled by erin")


def test_a_pending_run_can_be_cancelled(h):
    """A run still waiting for its Agent ends Cancelled when a person cancels it."""
    h.model()
    h.run()
    validate.handle(h.added(), h.deps)
    run = h.get()
    run["metadata"]["annotations"] = {steering.CANCEL: "true"}
    h.store.update(run)
    (cancelled,) = h.tick()
    assert cancelled.get_type() == types.RUN_CANCELLED
    h.deliver(cancelled)
    st = h.status()
    assert (st["phase"], st["error"]["message"]) == ("Cancelled", "cancelled by a user")
    assert h.tick() == []


def test_a_pending_run_is_redriven_to_validate(h):
    """A Pending run gets its add event again, so it proceeds once its Agent exists."""
    h.model()
    h.run()
    validate.handle(h.added(), h.deps)
    h.agent()
    (event,) = h.tick()
    assert event.get_type() == types.RESOURCE_ADD
    slot = int(h.clock.now() // sweep.PENDING_RECHECK_SECONDS)
    assert event.get_id() == f"{h.get()['metadata']['uid']}/announce/{slot}"
    assert kinds(h.deliver(event)) == [(types.RUN_ACCEPTED, 0)]


def test_repeated_announcements_within_a_slot_have_one_id(h):
    """Ticks within one recheck slot announce a Pending run with the same id (a bus keeps one)."""
    h.model()
    h.run()
    validate.handle(h.added(), h.deps)
    h.clock.advance(-(h.clock.now() % sweep.PENDING_RECHECK_SECONDS))
    (first,) = h.tick()
    h.clock.advance(sweep.PENDING_RECHECK_SECONDS / 2)
    (second,) = h.tick()
    h.clock.advance(sweep.PENDING_RECHECK_SECONDS)
    (third,) = h.tick()
    assert first.get_id() == second.get_id() != third.get_id()


def test_a_run_never_seen_is_redriven_after_a_grace_period(h):
    """A run whose add event was lost (no status at all) is announced again."""
    h.world()
    assert h.tick() == [], "a brand-new run still has its own add event in flight"
    h.clock.advance(sweep.UNSEEN_SECONDS + 1)
    (event,) = h.tick()
    assert event.get_type() == types.RESOURCE_ADD
    assert data_of(event)["metadata"]["name"] == "r1"


def test_tick_data_is_ignored(h):
    """A tick's data cannot change how long sweep waits: the sender has no say."""
    h.world()
    h.prepared()
    h.clock.advance(1)
    settings = {"stallAfterSeconds": 0, "quickStallAfterSeconds": 0, "unseenAfterSeconds": 0}
    assert sweep.handle(make_event(types.TICK, "/x", settings), h.deps) == []
    h.clock.advance(QUIET)
    quiet = {"stallAfterSeconds": 10_000}
    assert kinds(sweep.handle(make_event(types.TICK, "/x", quiet), h.deps)) == [
        (types.LLM_REQUESTED, 1)
    ]


def test_a_run_past_its_timeout_is_timed_out(h):
    """spec.timeout exceeded mid-step: the outcome is recorded, finalize makes it Failed."""
    h.world()
    run = h.get()
    run["spec"]["timeout"] = "1m"
    h.store.update(run)
    h.prepared()
    h.clock.advance(61)
    (event,) = h.tick()
    assert event.get_type() == types.RUN_TIMEDOUT
    assert data_of(event)["reason"] == "Timeout"
    assert h.status()["outcome"]["reason"] == "Timeout"
    h.deliver(event)
    assert (h.status()["phase"], h.status()["error"]["reason"]) == ("Failed", "Timeout")


def test_the_agents_timeout_applies_when_the_run_has_none(h):
    """limits.timeout of the Agent bounds runs that set no timeout themselves."""
    h.world(limits={"maxTurns": 5, "timeout": "30s"})
    h.prepared()
    h.clock.advance(31)
    assert [e.get_type() for e in h.tick()] == [types.RUN_TIMEDOUT]


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
    h.tick()
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
    h.tick()
    names = {r["metadata"]["name"] for r in h.store.list("AgentRun")}
    assert names == {"mid", "new", "elsewhere", "live"}


def test_an_agents_limit_holds_when_none_of_its_runs_is_live(h):
    """With every run finished, the Agent's own runHistoryLimit still applies (not the default)."""
    h.model()
    h.agent(runHistoryLimit=60)
    for i in range(55):
        _terminal(h, f"done-{i}", i)
    h.tick()
    assert len(h.store.list("AgentRun")) == 55


def test_a_run_held_pending_past_its_timeout_fails_naming_the_reference(h):
    """A run waiting for an Agent that never comes ends when its spec.timeout passes."""
    h.model()
    h.run(timeout="1m")
    validate.handle(h.added(), h.deps)
    h.clock.advance(59)
    (announce,) = h.tick()
    assert h.deliver(announce) == []
    h.clock.advance(2)
    (announce,) = h.tick()
    (failed,) = h.deliver(announce)
    assert failed.get_type() == types.RUN_FAILED
    h.deliver(failed)
    st = h.status()
    assert (st["phase"], st["error"]["reason"]) == ("Failed", "AgentNotFound")
    assert "a1" in st["error"]["message"]
    assert h.tick() == []


def test_a_run_awaiting_approval_still_times_out(h):
    """Waiting for a person does not suspend the run's timeout."""
    h.world(toolPolicy={"ask": ["calculate"]}, limits={"maxTurns": 5, "timeout": "10m"})
    h.models.script("m1", tool_use(("t1", "calculate", {"expression": "1"})))
    (req,) = call_llm.handle(h.prepared()[0], h.deps)
    call_tool.handle(req, h.deps)
    h.clock.advance(601)
    (event,) = h.tick()
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
    assert h.tick() == []
    assert h.status()["phase"] == "Succeeded"


def test_a_run_sweep_cannot_evaluate_is_marked_and_the_others_proceed(h):
    """One run sweep cannot read gets Swept=False with the reason; the next run still times out."""
    h.world()
    h.run("r2", timeout="30s")
    h.prepared()
    h.prepared("r2")
    broken = h.get()
    broken["spec"]["timeout"] = "soon"  # edited after validation: sweep cannot parse it
    h.store.update(broken)
    h.clock.advance(31)
    out = h.tick()
    assert [(data_of(e)["run"]["name"], e.get_type()) for e in out] == [("r2", types.RUN_TIMEDOUT)]
    cond = next(c for c in h.status()["conditions"] if c["type"] == "Swept")
    assert (cond["status"], cond["reason"]) == ("False", "SweepFailed")
    assert "soon" in cond["message"]
    assert h.status()["stage"] == Stage.MODEL
    commits = h.store.commits
    h.tick()
    assert h.store.commits == commits, "the same reason is not written again"


def _delegating_parent(h):
    """Parent r1 whose call t1 went to a sub-agent run; returns the child's name."""
    h.delegating_run()
    return h.status()["delegations"]["t1"]["name"]


def test_a_deleted_sub_agent_run_fails_its_call_and_the_parent_goes_on(h):
    """The child vanished before it ended: the parent's call closes with an error result."""
    child = _delegating_parent(h)
    h.store.delete("AgentRun", "default", child)
    out = h.tick()
    assert kinds(out) == [(types.TOOL_COMPLETED, 1), (types.LLM_REQUESTED, 2)]
    entry = h.journal()["tool/1/t1"]
    assert entry["is_error"] and "deleted" in entry["content"]


def test_a_finished_child_whose_resume_was_lost_resumes_its_parent(h):
    """Child ended but its parent's close never happened: the next tick closes the call."""
    child = _delegating_parent(h)
    h.models.script("m1", answer("x is 7"))
    (completed,) = call_llm.handle(h.prepared(child)[0], h.deps)
    h.store.crash_commit(skip=1, after_journal=False)  # the child ends; the parent's close dies
    with pytest.raises(ConnectionError):
        finalize.handle(completed, h.deps)
    assert h.status(child)["phase"] == "Succeeded"
    assert h.status()["pendingToolCalls"] == ["t1"]
    out = h.tick()
    assert types.LLM_REQUESTED in [e.get_type() for e in out]
    assert h.journal()["tool/1/t1"]["content"] == "x is 7"
