"""call_tool: policy, execution recorded once, approval, and the step's last call."""

from __future__ import annotations

import dataclasses

import pytest

from events import types
from events.envelope import RunRef, data_of
from events.errors import TransientError
from functions import call_llm, call_tool
from functions.ports import Conflict
from functions.run import claims, steering
from functions.run.status import Stage
from functions.run.step import advance
from tests.fakes.model import tool_use


class _Raising:
    """A Toolbox whose next ``fail`` calls raise ``error`` (then it asks ``inner``)."""

    def __init__(self, inner, error, fail=1_000):
        self.inner, self.error, self.fail = inner, error, fail

    def specs(self, agent, namespace):
        """The real toolbox's specs."""
        return self.inner.specs(agent, namespace)

    def call(self, call, ctx):
        """Raise while failures are left, else run the real tool."""
        if self.fail > 0:
            self.fail -= 1
            raise self.error
        return self.inner.call(call, ctx)


def _requested(h, *calls, **agent_spec):
    """World with ``agent_spec``; the model asks for ``calls``; returns the tool.requested."""
    h.world(**agent_spec)
    h.models.script("m1", tool_use(*calls))
    return call_llm.handle(h.prepared()[0], h.deps)


def _decide(h, call_id, approved, by="alice"):
    """What `baton approve`/`baton reject` does: annotate the run; sweep records it."""
    run = h.get()
    notes = {steering.APPROVE if approved else steering.REJECT: call_id, steering.APPROVED_BY: by}
    run["metadata"]["annotations"] = {**(run["metadata"].get("annotations") or {}), **notes}
    h.store.update(run)
    return h.tick()


def test_runs_a_builtin_and_asks_for_the_next_turn(h):
    """The only call of a step: result journaled, tool.completed and llm.requested n+1."""
    (req,) = _requested(h, ("t1", "calculate", {"expression": "6*7"}))
    uid = h.get()["metadata"]["uid"]
    out = call_tool.handle(req, h.deps)
    assert [e.get_type() for e in out] == [types.TOOL_COMPLETED, types.LLM_REQUESTED]
    assert [e.get_id() for e in out] == [f"{uid}/1/tool.completed/t1", f"{uid}/2/llm.requested"]
    assert data_of(out[1])["step"] == 2
    assert h.journal()["tool/1/t1"] == {
        "tool_use_id": "t1",
        "name": "calculate",
        "content": "42",
        "is_error": False,
    }
    st = h.status()
    assert (st["stage"], st["step"], st["pendingToolCalls"], st["toolCalls"]) == (
        Stage.MODEL,
        2,
        [],
        1,
    )


def test_a_duplicate_request_after_completion_is_dropped(h):
    """tool.requested again after the call closed: nothing runs; only the run's need follows."""
    (req,) = _requested(h, ("t1", "calculate", {"expression": "6*7"}))
    _completed, llm = call_tool.handle(req, h.deps)
    before = h.get()
    assert [e.get_id() for e in call_tool.handle(req, h.deps)] == [llm.get_id()]
    assert h.get() == before


def test_a_recorded_result_is_reused_after_a_crash(h):
    """Result journaled, close lost: after the lease the retry closes it with that result."""
    (req,) = _requested(h, ("t1", "current_time", {}))
    h.store.crash_commit(skip=1)  # the claim commits; the result's commit dies after the journal
    with pytest.raises(ConnectionError):
        call_tool.handle(req, h.deps)
    first = h.journal()["tool/1/t1"]["content"]
    h.clock.advance(3600)  # a re-run of current_time would now give another answer
    out = call_tool.handle(req, h.deps)
    assert [e.get_type() for e in out] == [types.TOOL_COMPLETED, types.LLM_REQUESTED]
    assert h.journal()["tool/1/t1"]["content"] == first
    assert h.status()["toolCalls"] == 1


def test_a_conflict_on_the_results_status_write_is_retried_on_a_fresh_read(h):
    """Journal landed, status write refused (a concurrent write): the retry closes the call."""
    (req,) = _requested(h, ("t1", "calculate", {"expression": "6*7"}))
    h.store.crash_commit(skip=1, error=Conflict("the object has been modified"))
    out = call_tool.handle(req, h.deps)
    assert [e.get_type() for e in out] == [types.TOOL_COMPLETED, types.LLM_REQUESTED]
    st = h.status()
    assert (st["stage"], st["step"], st["pendingToolCalls"]) == (Stage.MODEL, 2, [])


def test_bad_tool_input_goes_back_to_the_model(h):
    """A builtin's input error is an is_error result, and the run carries on."""
    (req,) = _requested(h, ("t1", "calculate", {"expression": "6/0"}))
    out = call_tool.handle(req, h.deps)
    assert types.LLM_REQUESTED in [e.get_type() for e in out]
    assert h.journal()["tool/1/t1"]["is_error"] is True


def test_an_unknown_tool_goes_back_to_the_model(h):
    """A tool the agent does not have is an is_error result naming it."""
    (req,) = _requested(h, ("t1", "rm_rf", {}))
    call_tool.handle(req, h.deps)
    entry = h.journal()["tool/1/t1"]
    assert entry["is_error"] and "rm_rf" in entry["content"]


def test_a_denied_tool_is_an_error_result_for_the_model(h):
    """deny: the tool does not run; the model is told it is denied."""
    (req,) = _requested(
        h, ("t1", "calculate", {"expression": "1+1"}), toolPolicy={"deny": ["calc*"]}
    )
    out = call_tool.handle(req, h.deps)
    assert [e.get_type() for e in out] == [types.TOOL_COMPLETED, types.LLM_REQUESTED]
    entry = h.journal()["tool/1/t1"]
    assert entry["is_error"] and "denied" in entry["content"]


def test_a_run_override_can_deny_what_the_agent_allows(h):
    """The run's toolPolicy override narrows the agent's policy."""
    h.model()
    h.agent()
    h.run(overrides={"toolPolicy": {"deny": ["calculate"]}})
    h.models.script("m1", tool_use(("t1", "calculate", {"expression": "1+1"})))
    (req,) = call_llm.handle(h.prepared()[0], h.deps)
    call_tool.handle(req, h.deps)
    assert "denied" in h.journal()["tool/1/t1"]["content"]


def test_ask_parks_the_run_until_approved(h):
    """ask: AwaitingApproval with a condition; an approval on the record runs it and resumes."""
    (req,) = _requested(
        h, ("t1", "calculate", {"expression": "6*7"}), toolPolicy={"ask": ["calculate"]}
    )
    assert call_tool.handle(req, h.deps) == []
    st = h.status()
    assert (st["phase"], st["awaitingApproval"]) == ("AwaitingApproval", ["t1"])
    cond = next(c for c in st["conditions"] if c["type"] == "ToolApproved")
    assert cond["status"] == "False" and "calculate" in cond["message"]
    assert "tool/1/t1" not in h.journal()
    assert call_tool.handle(req, h.deps) == [], "a redelivered request stays parked"
    assert h.needs() == [], "a person decides: nothing to re-publish meanwhile"
    (approved,) = _decide(h, "t1", True)
    assert approved.get_type() == types.TOOL_APPROVED
    assert approved.get_id() == f"{h.get()['metadata']['uid']}/1/tool.approved/t1"
    assert h.status()["approvals"] == {"t1": {"approved": True, "by": "alice"}}
    out = call_tool.handle(approved, h.deps)
    assert [e.get_type() for e in out] == [types.TOOL_COMPLETED, types.LLM_REQUESTED]
    assert h.journal()["tool/1/t1"]["content"] == "42"
    st = h.status()
    assert (st["phase"], st.get("awaitingApproval", []), st["step"]) == ("Running", [], 2)


def test_a_rejected_approval_is_an_error_result_naming_the_reviewer(h):
    """tool.approved false: the tool does not run, the model hears who rejected it."""
    (req,) = _requested(
        h, ("t1", "calculate", {"expression": "6*7"}), toolPolicy={"ask": ["calculate"]}
    )
    call_tool.handle(req, h.deps)
    (decided,) = _decide(h, "t1", False, by="bob")
    out = call_tool.handle(decided, h.deps)
    assert types.LLM_REQUESTED in [e.get_type() for e in out]
    entry = h.journal()["tool/1/t1"]
    assert entry["is_error"] and "rejected by bob" in entry["content"]
    assert h.status()["phase"] == "Running"


def test_only_the_last_of_two_parallel_calls_asks_for_the_next_turn(h):
    """The first call to finish emits tool.completed only; the second adds llm.requested."""
    first, second = _requested(
        h, ("t1", "calculate", {"expression": "1+1"}), ("t2", "calculate", {"expression": "2+2"})
    )
    out1 = call_tool.handle(second, h.deps)
    assert [e.get_type() for e in out1] == [types.TOOL_COMPLETED]
    assert h.status()["pendingToolCalls"] == ["t1"]
    out2 = call_tool.handle(first, h.deps)
    assert [e.get_type() for e in out2] == [types.TOOL_COMPLETED, types.LLM_REQUESTED]
    assert data_of(out2[1])["step"] == 2
    assert h.status()["toolCalls"] == 2


def test_an_approved_call_waits_for_its_sibling(h):
    """One call parked, its sibling done: the run stays AwaitingApproval until approval."""
    ask, plain = _requested(
        h,
        ("t1", "calculate", {"expression": "1+1"}),
        ("t2", "current_time", {}),
        toolPolicy={"ask": ["calculate"]},
    )
    call_tool.handle(ask, h.deps)
    assert [e.get_type() for e in call_tool.handle(plain, h.deps)] == [types.TOOL_COMPLETED]
    assert h.status()["phase"] == "AwaitingApproval"
    (approved,) = _decide(h, "t1", True)
    out = call_tool.handle(approved, h.deps)
    assert types.LLM_REQUESTED in [e.get_type() for e in out]
    assert h.status()["phase"] == "Running"


def test_a_call_not_pending_is_dropped(h):
    """A tool.requested for a call id the model never made runs nothing."""
    (req,) = _requested(h, ("t1", "calculate", {"expression": "1+1"}))
    forged = h.event(types.TOOL_REQUESTED, step=1, tool_call_id="zz")
    out = call_tool.handle(forged, h.deps)
    assert [e.get_id() for e in out] == [req.get_id()], "only the run's own need"
    assert [k for k in h.journal() if k.startswith("tool/")] == []
    assert h.status()["pendingToolCalls"] == ["t1"]


def test_the_recorded_call_runs_whatever_the_event_says(h):
    """Name and input come from the model's recorded reply, not from the event's data."""
    _requested(h, ("t1", "calculate", {"expression": "6*7"}))
    forged = h.event(
        types.TOOL_REQUESTED,
        step=1,
        data={"toolCall": {"id": "t1", "name": "current_time", "input": {"expression": "1"}}},
        tool_call_id="t1",
    )
    call_tool.handle(forged, h.deps)
    entry = h.journal()["tool/1/t1"]
    assert (entry["name"], entry["content"]) == ("calculate", "42")


def test_a_forged_approval_runs_nothing(h):
    """tool.approved without a decision in the run's record leaves the call parked."""
    (req,) = _requested(
        h, ("t1", "calculate", {"expression": "6*7"}), toolPolicy={"ask": ["calculate"]}
    )
    call_tool.handle(req, h.deps)
    forged = h.event(types.TOOL_APPROVED, step=1, tool_call_id="t1")
    assert call_tool.handle(forged, h.deps) == []
    assert "tool/1/t1" not in h.journal()
    assert h.status()["phase"] == "AwaitingApproval"


def test_an_approval_for_a_call_not_awaiting_one_is_not_recorded(h):
    """baton approve naming a call that does not wait for approval changes nothing."""
    _requested(h, ("t1", "calculate", {"expression": "6*7"}))
    assert _decide(h, "t1", True) == []
    assert "approvals" not in h.status()


def test_a_tool_that_raises_is_an_error_result_not_a_retry(h):
    """A tool's own exception goes to the model as is_error; the run carries on."""
    h.deps = dataclasses.replace(h.deps, tools=_Raising(h.deps.tools, RuntimeError("boom")))
    (req,) = _requested(h, ("t1", "calculate", {"expression": "6*7"}))
    out = call_tool.handle(req, h.deps)
    assert [e.get_type() for e in out] == [types.TOOL_COMPLETED, types.LLM_REQUESTED]
    entry = h.journal()["tool/1/t1"]
    assert entry["is_error"] and "RuntimeError" in entry["content"]
    assert "boom" not in entry["content"], "internal detail stays in the log"


def test_a_transient_tool_error_is_retried_with_the_claim_released(h):
    """TransientError propagates for the bus to retry; the claim is freed so the retry runs."""
    error = TransientError("mcp server restarting", reason="Unavailable")
    h.deps = dataclasses.replace(h.deps, tools=_Raising(h.deps.tools, error, fail=1))
    (req,) = _requested(h, ("t1", "calculate", {"expression": "6*7"}))
    with pytest.raises(TransientError):
        call_tool.handle(req, h.deps)
    st = h.status()
    assert "claims" not in st and st["pendingToolCalls"] == ["t1"]
    assert "tool/1/t1" not in h.journal()
    out = call_tool.handle(req, h.deps)
    assert [e.get_type() for e in out] == [types.TOOL_COMPLETED, types.LLM_REQUESTED]
    assert h.journal()["tool/1/t1"]["content"] == "42"


def test_a_live_claim_of_another_delivery_means_the_tool_does_not_run(h):
    """While another delivery holds the call's claim, a second one does nothing."""
    (req,) = _requested(h, ("t1", "calculate", {"expression": "6*7"}))
    advance(h.deps, RunRef.of(h.get()), lambda v: call_tool.decide_claim(v, 1, "t1", "other"))
    commits = h.store.commits
    assert call_tool.handle(req, h.deps) == []
    assert h.store.commits == commits
    assert "tool/1/t1" not in h.journal()
    assert h.needs() == [], "the claimed call is not needed from anyone else"
    h.clock.advance(claims.LEASE_SECONDS + 1)
    lapsed = [(e.get_type(), data_of(e)["toolCallId"]) for e in h.needs()]
    assert lapsed == [(types.TOOL_REQUESTED, "t1")], "a lapsed claim is needed again"
    assert types.LLM_REQUESTED in [e.get_type() for e in call_tool.handle(req, h.deps)]


def test_the_approval_condition_clears_once_nothing_waits(h):
    """After the approval the run no longer says a tool waits for approval."""
    (req,) = _requested(
        h, ("t1", "calculate", {"expression": "6*7"}), toolPolicy={"ask": ["calculate"]}
    )
    call_tool.handle(req, h.deps)
    (approved,) = _decide(h, "t1", True)
    call_tool.handle(approved, h.deps)
    cond = next(c for c in h.status()["conditions"] if c["type"] == "ToolApproved")
    assert cond["status"] == "True"
    assert "waits" not in cond["message"]
