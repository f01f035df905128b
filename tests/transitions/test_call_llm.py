"""call_llm: one model call per step, recorded once, and what the reply leads to."""

from __future__ import annotations

import time

import pytest

from events import types
from events.envelope import RunRef, data_of
from events.errors import PermanentError, TransientError
from functions import call_llm
from functions.ports import Conflict
from functions.run import claims
from functions.run.status import Stage
from functions.run.step import advance
from tests.fakes.model import answer, reply, tool_use


def test_an_answer_finishes_the_step(h):
    """end_turn: result and outcome recorded, stage Finalizing, run.completed follows."""
    run = h.world()
    h.models.script("m1", answer("42", input=100, output=7))
    out = call_llm.handle(h.prepared()[0], h.deps)
    assert [e.get_type() for e in out] == [types.RUN_COMPLETED]
    assert out[0].get_id() == f"{run['metadata']['uid']}/1/run.completed"
    assert out[0].get_source() == "/baton/runs/default/r1"
    st = h.status()
    assert (st["stage"], st["result"]) == (Stage.FINALIZING, "42")
    assert st["outcome"] == {
        "phase": "Succeeded",
        "reason": "Completed",
        "message": "the agent answered",
    }
    assert "claims" not in st
    assert st["tokenUsage"] == {
        "input": 100,
        "output": 7,
        "total": 107,
        "cacheRead": 0,
        "cacheCreation": 0,
    }
    assert st["costEstimate"] == "0.000107"
    assert h.journal()["reply/1"]["stop_reason"] == "end_turn"


def test_the_model_sees_system_tools_and_task(h):
    """The request is built from the frozen context with an idempotency key per step."""
    run = h.world()
    model = h.models.script("m1", answer("42"))
    call_llm.handle(h.prepared()[0], h.deps)
    (request,) = model.requests
    assert request.system == "You are terse."
    assert [t.name for t in request.tools] == ["calculate", "current_time"]
    assert list(request.messages) == [{"role": "user", "content": "What is 6*7?"}]
    assert request.idempotency_key == f"{run['metadata']['uid']}/1/call_llm"


def test_tool_use_requests_one_tool_call_each(h):
    """Two tool_use blocks: pendingToolCalls lists both, one tool.requested per call."""
    run = h.world()
    h.models.script(
        "m1", tool_use(("t1", "calculate", {"expression": "6*7"}), ("t2", "current_time", {}))
    )
    out = call_llm.handle(h.prepared()[0], h.deps)
    uid = run["metadata"]["uid"]
    assert [e.get_type() for e in out] == [types.TOOL_REQUESTED] * 2
    assert [e.get_id() for e in out] == [
        f"{uid}/1/tool.requested/t1",
        f"{uid}/1/tool.requested/t2",
    ]
    assert [data_of(e)["toolCallId"] for e in out] == ["t1", "t2"]
    assert "toolCall" not in data_of(out[0]), "name and input come from the recorded reply"
    st = h.status()
    assert (st["stage"], st["step"], st["pendingToolCalls"]) == (Stage.TOOLS, 1, ["t1", "t2"])


def test_the_same_event_twice_counts_tokens_once(h):
    """A redelivered llm.requested neither calls the model again nor adds tokens."""
    h.world()
    h.models.script("m1", answer("42", input=100, output=7))
    event = h.prepared()[0]
    (completed,) = call_llm.handle(event, h.deps)
    commits = h.store.commits
    again = call_llm.handle(event, h.deps)
    assert [e.get_id() for e in again] == [completed.get_id()], "the run's need, same id"
    assert h.store.commits == commits
    assert h.models.calls == 1
    assert h.status()["tokenUsage"]["total"] == 107


def test_a_recorded_reply_is_reused_after_a_crash(h):
    """Reply journaled, status write lost: after the lease the retry records it; one model call."""
    h.world()
    h.models.script("m1", answer("42", input=100, output=7))
    event = h.prepared()[0]
    h.store.crash_commit(skip=1)  # the claim commits; the reply's commit dies after the journal
    with pytest.raises(ConnectionError):
        call_llm.handle(event, h.deps)
    assert "reply/1" in h.journal() and h.status()["stage"] == Stage.MODEL
    h.clock.advance(claims.LEASE_SECONDS + 1)
    out = call_llm.handle(event, h.deps)
    assert [e.get_type() for e in out] == [types.RUN_COMPLETED]
    assert h.models.calls == 1
    assert h.status()["tokenUsage"]["total"] == 107


def test_a_conflict_on_the_replys_status_write_is_retried_on_a_fresh_read(h):
    """Journal landed, status write refused (a concurrent write): the retry records the reply."""
    h.world()
    h.models.script("m1", answer("42", input=100, output=7))
    event = h.prepared()[0]
    h.store.crash_commit(skip=1, error=Conflict("the object has been modified"))
    out = call_llm.handle(event, h.deps)
    assert [e.get_type() for e in out] == [types.RUN_COMPLETED]
    st = h.status()
    assert (st["stage"], st["result"], "claims" in st) == (Stage.FINALIZING, "42", False)
    assert h.models.calls == 1


def test_a_crash_before_the_reply_is_recorded_asks_again_after_the_lease(h):
    """The claimer died before recording: nobody calls while its lease lives, then one does."""
    h.world()
    h.models.script("m1", answer("first", input=100, output=7), answer("second"))
    event = h.prepared()[0]
    h.store.crash_commit(skip=1, after_journal=False)
    with pytest.raises(ConnectionError):
        call_llm.handle(event, h.deps)
    assert call_llm.handle(event, h.deps) == [], "a live claim: its owner is on it"
    assert h.needs() == []
    assert h.models.calls == 1
    h.clock.advance(claims.LEASE_SECONDS + 1)
    assert [e.get_type() for e in h.needs()] == [types.LLM_REQUESTED]
    assert [e.get_type() for e in call_llm.handle(event, h.deps)] == [types.RUN_COMPLETED]
    model = h.models["m1"]
    assert [r.idempotency_key for r in model.requests] == [model.requests[0].idempotency_key] * 2
    assert h.status()["result"] == "second"
    assert h.status()["tokenUsage"]["total"] == 15, "only the recorded reply counts"


def test_a_live_claim_of_another_delivery_means_no_model_call(h):
    """A second delivery while another holds the claim does nothing and publishes nothing."""
    h.world()
    h.models.script("m1", answer("42"))
    event = h.prepared()[0]
    ref = RunRef.of(h.get())
    advance(h.deps, ref, lambda view: call_llm.decide_claim(view, 1, "other-replica"))
    commits = h.store.commits
    assert call_llm.handle(event, h.deps) == []
    assert (h.models.calls, h.store.commits) == (0, commits)
    assert h.status()["claims"]["llm/1"]["owner"] == "other-replica"


def test_max_turns_exceeded_fails_the_run(h):
    """A step beyond limits.maxTurns fails with MaxTurnsExceeded without calling the model."""
    h.world(limits={"maxTurns": 1})
    h.models.script("m1", reply("pause_turn", {"type": "text", "text": "..."}))
    step2 = call_llm.handle(h.prepared()[0], h.deps)
    out = call_llm.handle(step2[0], h.deps)
    assert [e.get_type() for e in out] == [types.RUN_FAILED]
    assert data_of(out[0])["reason"] == "MaxTurnsExceeded"
    assert h.models.calls == 1
    assert h.status()["error"]["reason"] == "MaxTurnsExceeded"


def test_a_run_past_its_timeout_times_out(h):
    """A model turn requested after spec.timeout sends run.timedout, not a model call."""
    h.world()
    run = h.get()
    run["spec"]["timeout"] = "30s"
    h.store.update(run)
    event = h.prepared()[0]
    h.clock.advance(31)
    out = call_llm.handle(event, h.deps)
    assert [e.get_type() for e in out] == [types.RUN_TIMEDOUT]
    assert data_of(out[0])["reason"] == "Timeout"
    assert h.models.calls == 0
    assert h.status()["stage"] == Stage.FINALIZING


def test_the_token_budget_stops_the_next_turn(h):
    """Once tokenUsage.total reaches limits.maxTokens the next turn fails."""
    h.world(limits={"maxTurns": 5, "maxTokens": 100})
    h.models.script("m1", reply("pause_turn", input=90, output=20))
    step2 = call_llm.handle(h.prepared()[0], h.deps)
    out = call_llm.handle(step2[0], h.deps)
    assert data_of(out[0])["reason"] == "TokenBudgetExceeded"


def test_max_tokens_fails_by_default(h):
    """A reply cut off at maxTokens fails the run with reason MaxTokens."""
    h.model(maxTokens=64)
    h.agent()
    h.run()
    h.models.script("m1", reply("max_tokens", {"type": "text", "text": "The answer is"}))
    out = call_llm.handle(h.prepared()[0], h.deps)
    assert [e.get_type() for e in out] == [types.RUN_FAILED]
    assert data_of(out[0])["reason"] == "MaxTokens"
    assert "64" in data_of(out[0])["message"]


def test_max_tokens_continues_when_the_model_says_so(h):
    """onMaxTokens continue asks for the next step, with the partial reply in the transcript."""
    h.model(onMaxTokens="continue")
    h.agent()
    h.run()
    model = h.models.script(
        "m1", reply("max_tokens", {"type": "text", "text": "The answer"}), answer(" is 42")
    )
    out = call_llm.handle(h.prepared()[0], h.deps)
    assert [e.get_type() for e in out] == [types.LLM_REQUESTED]
    assert data_of(out[0])["step"] == 2
    assert (h.status()["stage"], h.status()["step"]) == (Stage.MODEL, 2)
    call_llm.handle(out[0], h.deps)
    assert model.requests[1].messages[-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "The answer"}],
    }
    assert h.status()["result"] == "The answer is 42", "the answer joins the continued parts"


def test_pause_turn_continues(h):
    """pause_turn asks for step n+1 and counts its tokens."""
    h.world()
    h.models.script("m1", reply("pause_turn", input=10, output=5))
    out = call_llm.handle(h.prepared()[0], h.deps)
    assert [(e.get_type(), data_of(e)["step"]) for e in out] == [(types.LLM_REQUESTED, 2)]
    assert h.status()["tokenUsage"]["total"] == 15


def test_a_refusal_fails_the_run(h):
    """stop_reason refusal fails the run with ModelRefused."""
    h.world()
    h.models.script("m1", reply("refusal"))
    out = call_llm.handle(h.prepared()[0], h.deps)
    assert data_of(out[0])["reason"] == "ModelRefused"
    assert h.status()["error"]["reason"] == "ModelRefused"


def test_an_unknown_stop_reason_fails_the_run(h):
    """A stop reason baton does not know fails the run and names it."""
    h.world()
    h.models.script("m1", reply("brand_new_reason"))
    out = call_llm.handle(h.prepared()[0], h.deps)
    assert data_of(out[0])["reason"] == "UnknownStopReason"
    assert "brand_new_reason" in data_of(out[0])["message"]


def test_a_transient_model_error_is_counted_and_reraised(h):
    """TransientError: modelAttempts goes up, ModelAvailable False, the error propagates."""
    h.world()
    h.models.script("m1", TransientError("overloaded", delay=2, reason="Overloaded"), answer("42"))
    event = h.prepared()[0]
    with pytest.raises(TransientError):
        call_llm.handle(event, h.deps)
    st = h.status()
    assert st["modelAttempts"] == 1
    cond = next(c for c in st["conditions"] if c["type"] == "ModelAvailable")
    assert (cond["status"], cond["reason"]) == ("False", "Overloaded")
    assert st["stage"] == Stage.MODEL
    assert "claims" not in st, "the claim is released, so the retry need not wait a lease"
    call_llm.handle(event, h.deps)
    cond = next(c for c in h.status()["conditions"] if c["type"] == "ModelAvailable")
    assert cond["status"] == "True"
    assert h.status()["result"] == "42"


def test_a_permanent_model_error_fails_the_run_with_the_error(h):
    """PermanentError from the model: the run's outcome is Failed with it, no dead letter."""
    h.world()
    h.models.script("m1", PermanentError("bad request: no such model", reason="ModelError"))
    out = call_llm.handle(h.prepared()[0], h.deps)
    assert [e.get_type() for e in out] == [types.RUN_FAILED]
    st = h.status()
    assert st["outcome"]["phase"] == "Failed" and "claims" not in st
    assert st["error"] == {"reason": "ModelError", "message": "bad request: no such model"}
    h.deliver(out[0])
    st = h.status()
    assert (st["phase"], st["error"]["reason"]) == ("Failed", "ModelError")


def test_a_stale_step_is_dropped(h):
    """llm.requested for another step than the run's: no model call, only the run's own need."""
    h.world()
    (need,) = h.prepared()
    out = call_llm.handle(h.event(types.LLM_REQUESTED, step=2), h.deps)
    assert [e.get_id() for e in out] == [need.get_id()]
    assert (h.models.calls, h.status()["step"]) == (0, 1)


def test_an_event_about_an_older_run_of_the_same_name_does_nothing(h):
    """A run deleted and created again under its name ignores its predecessor's events."""
    h.world()
    (old,) = h.prepared()
    h.store.delete("AgentRun", "default", "r1")
    h.run()
    h.models.script("m1", answer("42"))
    assert call_llm.handle(old, h.deps) == []
    assert (h.models.calls, h.status()) == (0, {})


def test_the_second_turn_sees_tool_results(h):
    """Step 2's request carries the assistant's tool_use and the tool_result."""
    h.world()
    model = h.models.script(
        "m1", tool_use(("t1", "calculate", {"expression": "6*7"})), answer("42")
    )
    (tool_req,) = call_llm.handle(h.prepared()[0], h.deps)
    _completed, llm2 = h.deliver(tool_req)
    call_llm.handle(llm2, h.deps)
    messages = model.requests[1].messages
    assert messages[-1] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "42", "is_error": False}
        ],
    }
    assert messages[-2]["content"][0]["name"] == "calculate"


def test_an_answer_after_pause_turn_includes_the_paused_text(h):
    """The result is the whole answer across paused turns, as one unpaused reply would give."""
    h.world()
    h.models.script(
        "m1",
        reply("pause_turn", {"type": "text", "text": "Searching. "}),
        answer("Found: 42."),
    )
    (llm2,) = call_llm.handle(h.prepared()[0], h.deps)
    (completed,) = call_llm.handle(llm2, h.deps)
    assert completed.get_type() == types.RUN_COMPLETED
    assert h.status()["result"] == "Searching. Found: 42."


def test_an_answer_after_a_tool_turn_is_only_the_last_reply(h):
    """Text the model wrote before calling tools is not part of the final answer."""
    h.world()
    h.models.script(
        "m1",
        reply(
            "tool_use",
            {"type": "text", "text": "Let me compute. "},
            {"type": "tool_use", "id": "t1", "name": "calculate", "input": {"expression": "6*7"}},
        ),
        answer("42"),
    )
    (tool_req,) = call_llm.handle(h.prepared()[0], h.deps)
    _completed, llm2 = h.deliver(tool_req)
    call_llm.handle(llm2, h.deps)
    assert h.status()["result"] == "42"


class _SlowModel:
    """A model call that outlasts the claim's first lease; meanwhile the event comes again."""

    def __init__(self, h, event):
        self.h, self.event, self.requests, self.during = h, event, [], None

    def complete(self, request):
        """Let fake time pass the first lease once the owner renewed it, then redeliver."""
        self.requests.append(request)
        if len(self.requests) > 1:
            raise AssertionError("the model was called twice")
        first_expiry = self.h.status()["claims"]["llm/1"]["expiresAt"]
        self.h.clock.advance(claims.LEASE_SECONDS - 2)
        deadline = time.monotonic() + claims.RENEW_SECONDS * 3
        while self.h.status()["claims"]["llm/1"]["expiresAt"] == first_expiry:
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.05)
        self.h.clock.advance(4)  # past the first lease, inside the renewed one
        self.during = call_llm.handle(self.event, self.h.deps)
        return answer("slow but sure")


def test_a_slow_model_call_keeps_its_claim_while_it_runs(h):
    """The claim is renewed while the call runs: a redelivery past the first lease does nothing."""
    h.world()
    event = h.prepared()[0]
    slow = _SlowModel(h, event)
    h.models.models["m1"] = slow
    out = call_llm.handle(event, h.deps)
    assert slow.during == []
    assert len(slow.requests) == 1
    assert [e.get_type() for e in out] == [types.RUN_COMPLETED]
    assert h.status()["result"] == "slow but sure"
