"""Sub-agents: a delegated call closes only through its own child, one slot at a time."""

from __future__ import annotations

from events import types
from events.envelope import data_of
from functions import call_llm, call_tool
from tests.fakes.model import answer, tool_use


def _team(h, **subagents):
    h.model()
    h.model("m2")
    h.agent("helper", model="m2")
    h.agent(tools=[{"agent": "helper", "name": "ask_helper"}], subagents=subagents)
    h.run(task="Ask twice")


def _asked_twice(h, **subagents):
    """The lead's first step asks helper twice (t1, t2); its two tool.requested events."""
    _team(h, **subagents)
    h.models.script(
        "m1",
        tool_use(("t1", "ask_helper", {"task": "one"}), ("t2", "ask_helper", {"task": "two"})),
    )
    return call_llm.handle(h.prepared()[0], h.deps)


def test_a_call_waiting_for_a_slot_starts_when_the_first_child_ends(h):
    """maxConcurrent 1: the second child starts only after the first one finished."""
    _team(h, maxConcurrent=1)
    h.models.script(
        "m1",
        tool_use(("t1", "ask_helper", {"task": "one"}), ("t2", "ask_helper", {"task": "two"})),
        answer("both done"),
    )
    h.models.script("m2", answer("first"), answer("second"))
    h.pump(h.prepared())
    assert (h.status()["phase"], h.status()["result"]) == ("Succeeded", "both done")
    journal = h.journal()
    assert (journal["tool/1/t1"]["content"], journal["tool/1/t2"]["content"]) == (
        "first",
        "second",
    )
    running, most = set(), 0
    for _rv, change in h.store.changes:
        obj = change.object
        if obj["kind"] != "AgentRun" or not obj["spec"].get("parent"):
            continue
        phase = (obj.get("status") or {}).get("phase")
        name = obj["metadata"]["name"]
        if phase in ("Succeeded", "Failed", "Cancelled"):
            running.discard(name)
        else:
            running.add(name)
        most = max(most, len(running))
    assert most == 1, "never two sub-agent runs at once"


def test_a_queued_call_is_needed_again_each_time_a_call_of_the_step_closes(h):
    """The queued call's need has a new id after every close (a slot may have freed)."""
    first, second = _asked_twice(h, maxConcurrent=1)
    assert call_tool.handle(first, h.deps) == []
    (retry,) = call_tool.handle(second, h.deps)
    uid = h.get()["metadata"]["uid"]
    assert retry.get_id() == f"{uid}/1/tool.requested/t2/after-0"
    assert data_of(retry)["toolCallId"] == "t2"
    assert h.status()["queuedCalls"] == ["t2"]
    again = call_tool.handle(retry, h.deps)
    assert {e.get_id() for e in again} <= {retry.get_id()}, "still no slot: no new need"
    assert list(h.status()["delegations"]) == ["t1"]


def test_maxchildren_refuses_calls_past_the_limit_in_the_models_order(h):
    """maxChildrenPerAgent 1: the model's second call is told no, whichever runs first."""
    first, second = _asked_twice(h, maxChildrenPerAgent=1)
    out = call_tool.handle(second, h.deps)
    assert [e.get_type() for e in out] == [types.TOOL_COMPLETED]
    entry = h.journal()["tool/1/t2"]
    assert entry["is_error"] and "maxChildrenPerAgent" in entry["content"]
    assert call_tool.handle(first, h.deps) == []
    assert list(h.status()["delegations"]) == ["t1"]
