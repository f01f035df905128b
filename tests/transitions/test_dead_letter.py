"""dead_letter: an event given up on fails its run with the reason the bus attached."""

from __future__ import annotations

import base64
import json

import pytest
from cloudevents.core.v1.event import CloudEvent

from events import types
from events.bus import DEAD_LETTER_MESSAGE, DEAD_LETTER_REASON
from events.envelope import data_of, make_event
from events.errors import TransientError
from functions import call_llm, dead_letter
from functions.run.status import Stage
from tests.fakes.model import answer, tool_use


def _dead(event, **extensions):
    """``event`` as a bus or Knative would dead-letter it."""
    return CloudEvent({**event.get_attributes(), **extensions}, event.get_data())


def test_fails_the_run_with_the_bus_reason(h):
    """batonerror/batonerrormsg become the run's error, and finalize is asked to end it."""
    h.world()
    (llm,) = h.prepared()
    dead = _dead(llm, **{DEAD_LETTER_REASON: "ModelUnavailable", DEAD_LETTER_MESSAGE: "gave up"})
    out = dead_letter.handle(dead, h.deps)
    assert [e.get_type() for e in out] == [types.RUN_FAILED]
    error = h.status()["error"]
    assert error["reason"] == "ModelUnavailable"
    assert error["message"] == f"{types.LLM_REQUESTED} failed: gave up"
    assert data_of(out[0])["reason"] == "ModelUnavailable"
    assert h.status()["stage"] == Stage.FINALIZING
    h.deliver(out[0])
    assert h.status()["phase"] == "Failed"


def test_reads_knatives_error_data(h):
    """Knative's DLS extensions: the JSON body a function answered names the reason."""
    h.world()
    (llm,) = h.prepared()
    body = base64.b64encode(json.dumps({"reason": "ModelError", "message": "400 bad"}).encode())
    dead = _dead(llm, knativeerrorcode="400", knativeerrordata=body.decode())
    dead_letter.handle(dead, h.deps)
    assert h.status()["error"]["reason"] == "ModelError"
    assert "400 bad" in h.status()["error"]["message"]


def test_knative_error_data_that_is_not_an_object_is_quoted(h):
    """A non-JSON or non-object body still fails the run, quoting the HTTP code."""
    h.world()
    (llm,) = h.prepared()
    for data in ("not base64 at all!", base64.b64encode(b'"just a string"').decode()):
        reason, message = dead_letter.reason_of(
            _dead(llm, knativeerrorcode="502", knativeerrordata=data)
        )
        assert reason == "DeliveryFailed" and message
    out = dead_letter.handle(_dead(llm, knativeerrorcode="502"), h.deps)
    assert data_of(out[0])["message"].endswith("delivery failed (HTTP 502)")


def test_a_dead_add_event_fails_the_run(h):
    """An AgentRun add that could not be processed fails that run."""
    h.world()
    out = dead_letter.handle(_dead(h.added(), **{DEAD_LETTER_REASON: "InternalError"}), h.deps)
    assert [e.get_type() for e in out] == [types.RUN_FAILED]
    assert h.status()["error"]["reason"] == "InternalError"


def test_a_run_already_finalizing_keeps_its_first_error(h):
    """A second dead letter for the same run changes nothing."""
    h.world()
    (llm,) = h.prepared()
    dead_letter.handle(_dead(llm, **{DEAD_LETTER_REASON: "First"}), h.deps)
    assert dead_letter.handle(_dead(llm, **{DEAD_LETTER_REASON: "Second"}), h.deps) == []
    assert h.status()["error"]["reason"] == "First"


def test_dead_terminal_events_are_only_logged(h):
    """finalize's own failures and run.finished are not turned into more failures."""
    h.world()
    h.prepared()
    for type_ in (types.RUN_FAILED, types.RUN_COMPLETED, types.RUN_FINISHED):
        event = h.event(type_, step=1, data={"reason": "X"})
        assert dead_letter.handle(_dead(event, **{DEAD_LETTER_REASON: "Boom"}), h.deps) == []
    assert h.status()["stage"] == Stage.MODEL


def test_events_without_a_run_are_dropped(h):
    """A dead-lettered request that never became a run, or an unparsable event, is dropped."""
    request = make_event(types.RUN_REQUESTED, "/test", {"agent": "a1", "task": "t"})
    assert (
        dead_letter.handle(_dead(request, **{DEAD_LETTER_REASON: "InvalidRequest"}), h.deps) == []
    )
    garbage = CloudEvent(
        {"type": types.LLM_REQUESTED, "source": "/x", "id": "1", "specversion": "1.0"}, b"{nope"
    )
    assert (
        dead_letter.handle(_dead(garbage, **{DEAD_LETTER_REASON: "MalformedEvent"}), h.deps) == []
    )


def test_a_dead_letter_for_a_step_left_behind_does_not_fail_the_run(h):
    """An old step's event that could not be processed is history, not the run's fate."""
    h.world()
    h.models.script("m1", tool_use(("t1", "calculate", {"expression": "1+1"})))
    (llm,) = h.prepared()
    (req,) = call_llm.handle(llm, h.deps)
    h.deliver(req)  # the run moves on to step 2
    assert dead_letter.handle(_dead(llm, **{DEAD_LETTER_REASON: "StoreDown"}), h.deps) == []
    assert dead_letter.handle(_dead(h.added(), **{DEAD_LETTER_REASON: "StoreDown"}), h.deps) == []
    st = h.status()
    assert (st["stage"], st["step"], st.get("error")) == (Stage.MODEL, 2, None)


def test_a_dead_event_that_is_not_a_need_fails_nothing(h):
    """A forged or mistaken event (a step the run is not at, a call never made) fails nothing."""
    h.world()
    h.models.script("m1", tool_use(("t1", "calculate", {"expression": "1+1"})))
    call_llm.handle(h.prepared()[0], h.deps)
    before = h.get()
    for event in (
        h.event(types.LLM_REQUESTED, step=5),
        h.event(types.TOOL_REQUESTED, step=1, tool_call_id="never-made"),
        h.event(types.TOOL_APPROVED, step=1, tool_call_id="t1"),
    ):
        assert dead_letter.handle(_dead(event, **{DEAD_LETTER_REASON: "Boom"}), h.deps) == []
    assert h.get() == before


def test_a_dead_malformed_event_about_a_run_fails_nothing(h):
    """An event whose data breaks its schema is not the run's fate, whatever run it names."""
    h.world()
    h.prepared()
    run = {"namespace": "default", "name": "r1", "uid": h.get()["metadata"]["uid"]}
    bad = make_event(types.LLM_REQUESTED, "/x", {"run": run, "step": "one"}, id_="bad")
    assert dead_letter.handle(_dead(bad, **{DEAD_LETTER_REASON: "Malformed"}), h.deps) == []
    assert h.status()["stage"] == Stage.MODEL


def test_a_model_turn_the_bus_gave_up_on_fails_the_run(h):
    """The model stayed unavailable until retries ran out: the run fails with that reason."""
    h.world()
    (llm,) = h.prepared()
    h.models.script("m1", TransientError("overloaded", reason="Overloaded"))
    with pytest.raises(TransientError):
        call_llm.handle(llm, h.deps)
    dead = _dead(llm, **{DEAD_LETTER_REASON: "Exhausted", DEAD_LETTER_MESSAGE: "5 attempts"})
    (failed,) = dead_letter.handle(dead, h.deps)
    assert failed.get_type() == types.RUN_FAILED
    st = h.status()
    assert (st["outcome"]["reason"], "claims" in st) == ("Exhausted", False)
    h.deliver(failed)
    assert h.status()["phase"] == "Failed"


def test_a_dead_run_finished_marks_the_answer_undelivered(h):
    """run.finished the bus gave up on: Delivered=False, reason DeliveryFailed; the run stays."""
    h.world()
    h.models.script("m1", answer("42"))
    (finished,) = h.pump(h.prepared())
    assert dead_letter.handle(_dead(finished, **{DEAD_LETTER_REASON: "SlackDown"}), h.deps) == []
    st = h.status()
    cond = next(c for c in st["conditions"] if c["type"] == "Delivered")
    assert (cond["status"], cond["reason"]) == ("False", "DeliveryFailed")
    assert st["phase"] == "Succeeded" and st["result"] == "42"


def test_a_dead_run_replied_marks_the_answer_undelivered_and_the_session_serves_on(h):
    """A session reply that could not be posted is said on the run; the session goes on."""
    h.model()
    h.agent()
    h.run(task="hi", mode="server")
    h.models.script("m1", answer("hello"))
    h.pump(h.prepared())
    (replied,) = [e for e in h.seen if e.get_type() == types.RUN_REPLIED]
    assert dead_letter.handle(_dead(replied, **{DEAD_LETTER_REASON: "Gone"}), h.deps) == []
    st = h.status()
    cond = next(c for c in st["conditions"] if c["type"] == "Delivered")
    assert (cond["status"], cond["reason"]) == ("False", "DeliveryFailed")
    assert st["phase"] == "Serving"
