"""needs: the events a run still waits for, read from its record alone."""

from __future__ import annotations

import pytest

from events import types
from events.envelope import data_of
from functions.run import claims
from functions.run.needs import needs
from functions.run.status import rfc3339
from tests.fakes.clock import START

UID = "0b8e6c1e-2f4a-4d7e-9a61-3c2d1e0f9a8b"


def _run(**status):
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": "r1", "namespace": "team", "uid": UID},
        "spec": {"agentRef": {"name": "a1"}, "task": "t"},
        "status": status,
    }


def _ids(run, now=START):
    return [e.get_id().removeprefix(f"{UID}/") for e in needs(run, now)]


def test_a_pending_or_unvalidated_run_needs_nothing_from_the_chain():
    """Validate's add events come from the watch (and sweep), not from needs."""
    assert _ids(_run()) == []
    assert _ids(_run(phase="Pending")) == []


def test_accepted_needs_run_accepted():
    """Stage Accepted: run.accepted at step 0, about the run itself."""
    (event,) = needs(_run(phase="Running", stage="Accepted", step=0), START)
    assert event.get_id() == f"{UID}/0/run.accepted"
    assert event.get_source() == "/baton/runs/team/r1"
    assert data_of(event)["run"] == {"namespace": "team", "name": "r1", "uid": UID}


def test_a_model_turn_needs_its_call_unless_a_live_claim_holds_it():
    """Stage Model: llm.requested n; a live llm/n claim means nobody else is needed."""
    run = _run(phase="Running", stage="Model", step=3)
    assert _ids(run) == ["3/llm.requested"]
    run["status"]["claims"] = {
        "llm/3": {"owner": "x", "expiresAt": rfc3339(START + claims.LEASE_SECONDS)}
    }
    assert _ids(run) == []
    (lapsed,) = _ids(run, START + claims.LEASE_SECONDS + 1)
    assert lapsed.startswith("3/llm.requested")


def test_tools_need_each_open_call_that_nobody_else_holds():
    """Delegated, claimed and unapproved calls are not needed; decided ones need tool.approved."""
    live = {"owner": "x", "expiresAt": rfc3339(START + 5)}
    run = _run(
        phase="AwaitingApproval",
        stage="Tools",
        step=2,
        toolCalls=1,
        pendingToolCalls=["plain", "child", "held", "asked", "decided", "queued"],
        delegations={"child": {"name": "r1-sub-1", "uid": "u"}},
        claims={"tool/2/held": live},
        awaitingApproval=["asked", "decided"],
        approvals={"decided": {"approved": False, "by": "bob"}},
        queuedCalls=["queued"],
    )
    assert _ids(run) == [
        "2/tool.requested/plain",
        "2/tool.approved/decided",
        "2/tool.requested/queued/after-1",
    ]
    assert [data_of(e)["toolCallId"] for e in needs(run, START)] == ["plain", "decided", "queued"]


@pytest.mark.parametrize(
    ("outcome", "type_"),
    [
        ({"phase": "Succeeded", "reason": "Completed"}, types.RUN_COMPLETED),
        ({"phase": "Failed", "reason": "ModelRefused"}, types.RUN_FAILED),
        ({"phase": "Failed", "reason": "Timeout"}, types.RUN_TIMEDOUT),
        ({"phase": "Cancelled", "reason": "Cancelled"}, types.RUN_CANCELLED),
    ],
)
def test_finalizing_needs_the_terminal_event_of_its_recorded_outcome(outcome, type_):
    """Stage Finalizing: the terminal request that matches status.outcome, with its reason."""
    (event,) = needs(_run(phase="Running", stage="Finalizing", step=4, outcome=outcome), START)
    assert event.get_type() == type_
    assert event.get_id() == f"{UID}/4/{type_.removeprefix('dev.baton.')}"
    assert data_of(event)["reason"] == outcome["reason"]


def test_a_finished_run_needs_run_finished_with_its_end():
    """Terminal: run.finished carrying phase, result and error as recorded."""
    (event,) = needs(_run(phase="Succeeded", stage="Done", step=2, result="42"), START)
    assert event.get_id() == f"{UID}/2/run.finished"
    assert (data_of(event)["phase"], data_of(event)["result"]) == ("Succeeded", "42")


def test_a_serving_run_needs_its_reply_and_its_next_input():
    """Serving: run.replied for the answered step; run.input.received for a queued input."""
    run = _run(phase="Serving", stage="Input", step=2, result="hi", inputs=3, inputsTaken=1)
    assert _ids(run) == ["2/run.replied", "2/run.input.received/input-2"]
    assert data_of(needs(run, START)[1])["index"] == 2
    fresh = _run(phase="Serving", stage="Input", step=0)
    assert _ids(fresh) == [], "no answer yet, no input: nothing"


def test_a_traced_run_puts_every_need_in_its_trace():
    """With status.traceID, each need carries a traceparent naming that trace."""
    trace = UID.replace("-", "")
    (event,) = needs(_run(phase="Running", stage="Model", step=1, traceID=trace), START)
    assert event.get_extension("traceparent").split("-")[1] == trace
