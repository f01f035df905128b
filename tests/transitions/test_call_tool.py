"""call_tool: policy, execution recorded once, approval, and the step's last call."""

from __future__ import annotations

import pytest

from events import types
from events.envelope import data_of
from functions import call_llm, call_tool
from functions.agentrun import Stage
from tests.fakes.model import tool_use


def _requested(h, *calls, **agent_spec):
    """World with ``agent_spec``; the model asks for ``calls``; returns the tool.requested."""
    h.world(**agent_spec)
    h.models.script("m1", tool_use(*calls))
    return call_llm.handle(h.prepared()[0], h.deps)


def _approval(h, event, approved, by="alice"):
    data = data_of(event)
    return h.event(
        types.TOOL_APPROVED,
        step=data["step"],
        data={"toolCall": data["toolCall"], "approved": approved, "by": by},
        tool_call_id=data["toolCall"]["id"],
    )


def test_runs_a_builtin_and_asks_for_the_next_turn(h):
    """The only call of a step: result journaled, tool.completed and llm.requested n+1."""
    (req,) = _requested(h, ("t1", "calculate", {"expression": "6*7"}))
    uid = h.get()["metadata"]["uid"]
    out = call_tool.handle(req, h.deps)
    assert [e.get_type() for e in out] == [types.TOOL_COMPLETED, types.LLM_REQUESTED]
    assert [e.get_id() for e in out] == [f"{uid}/1/call_tool/t1", f"{uid}/2/call_tool"]
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
    """tool.requested again after the call closed: nothing runs, nothing is emitted."""
    (req,) = _requested(h, ("t1", "calculate", {"expression": "6*7"}))
    call_tool.handle(req, h.deps)
    before = h.get()
    assert call_tool.handle(req, h.deps) == []
    assert h.get() == before


def test_a_recorded_result_is_reused_after_a_crash(h):
    """Result journaled but the close lost: the retry closes it with the first result."""
    (req,) = _requested(h, ("t1", "current_time", {}))
    h.store.fail_next("update_status", ConnectionError("store went away"))
    with pytest.raises(ConnectionError):
        call_tool.handle(req, h.deps)
    first = h.journal()["tool/1/t1"]["content"]
    h.clock.advance(3600)  # a re-run of current_time would now give another answer
    out = call_tool.handle(req, h.deps)
    assert [e.get_type() for e in out] == [types.TOOL_COMPLETED, types.LLM_REQUESTED]
    assert h.journal()["tool/1/t1"]["content"] == first
    assert h.status()["toolCalls"] == 1


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
    """ask: AwaitingApproval with a condition; tool.approved true runs it and resumes."""
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
    out = call_tool.handle(_approval(h, req, True), h.deps)
    assert [e.get_type() for e in out] == [types.TOOL_COMPLETED, types.LLM_REQUESTED]
    assert h.journal()["tool/1/t1"]["content"] == "42"
    st = h.status()
    assert (st["phase"], st["awaitingApproval"], st["step"]) == ("Running", [], 2)


def test_a_rejected_approval_is_an_error_result_naming_the_reviewer(h):
    """tool.approved false: the tool does not run, the model hears who rejected it."""
    (req,) = _requested(
        h, ("t1", "calculate", {"expression": "6*7"}), toolPolicy={"ask": ["calculate"]}
    )
    call_tool.handle(req, h.deps)
    out = call_tool.handle(_approval(h, req, False, by="bob"), h.deps)
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
    out = call_tool.handle(_approval(h, ask, True), h.deps)
    assert types.LLM_REQUESTED in [e.get_type() for e in out]
    assert h.status()["phase"] == "Running"


def test_a_call_not_pending_is_dropped(h):
    """A tool.requested for a call id the run does not wait for does nothing."""
    _requested(h, ("t1", "calculate", {"expression": "1+1"}))
    forged = h.event(
        types.TOOL_REQUESTED,
        step=1,
        data={"toolCall": {"id": "zz", "name": "calculate", "input": {}}},
    )
    assert call_tool.handle(forged, h.deps) == []
    assert "tool/1/zz" not in h.journal()


def test_the_approval_condition_clears_once_nothing_waits(h):
    """After the approval the run no longer says a tool waits for approval."""
    (req,) = _requested(
        h, ("t1", "calculate", {"expression": "6*7"}), toolPolicy={"ask": ["calculate"]}
    )
    call_tool.handle(req, h.deps)
    call_tool.handle(_approval(h, req, True), h.deps)
    cond = next(c for c in h.status()["conditions"] if c["type"] == "ToolApproved")
    assert cond["status"] == "True"
    assert "waits" not in cond["message"]
