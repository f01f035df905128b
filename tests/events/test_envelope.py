"""The envelope: deterministic ids, the run reference, extensions, reading data back."""

from __future__ import annotations

import pytest
from cloudevents.core.bindings import http
from cloudevents.core.v1.event import CloudEvent

from events.envelope import (
    JSON,
    RunRef,
    data_of,
    dedupe_key,
    event_id,
    make_event,
    run_event,
    run_ref_of,
    step_of,
)
from events.errors import MalformedEvent

REF = RunRef("team-a", "r1", "uid-1")


def test_event_ids_are_deterministic():
    """One id per run, step, type and key: whoever emits a need emits the same id."""
    assert event_id(REF, 3, "dev.baton.llm.requested") == "uid-1/3/llm.requested"
    assert (
        event_id(REF, 3, "dev.baton.tool.requested", "toolu_1") == "uid-1/3/tool.requested/toolu_1"
    )
    assert run_event("t", REF, 3).get_id() == run_event("t", REF, 3).get_id()


def test_two_types_of_one_step_never_share_an_id():
    """The type is in the id: a run.finished cannot collide with an llm.requested."""
    ids = {
        run_event(t, REF, 4).get_id()
        for t in ("dev.baton.llm.requested", "dev.baton.run.finished", "dev.baton.run.completed")
    }
    assert len(ids) == 3


def test_the_dedupe_key_is_source_and_id():
    """Two producers may use the same id: source + id is the identity (CloudEvents)."""
    attrs = {"type": "t", "id": "1", "specversion": "1.0"}
    a = CloudEvent({**attrs, "source": "/a"}, None)
    b = CloudEvent({**attrs, "source": "/b"}, None)
    assert dedupe_key(a) != dedupe_key(b)
    assert dedupe_key(a) == dedupe_key(CloudEvent({**attrs, "source": "/a"}, {"x": 1}))


def test_run_events_carry_run_step_and_filterable_extensions():
    """data.run and data.step; batonrun/batonstep/traceparent for Triggers and tracing."""
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    event = run_event("dev.baton.x", REF, 2, {"extra": 1}, key="t1", traceparent=tp)
    attrs = event.get_attributes()
    assert attrs["source"] == "/baton/runs/team-a/r1"
    assert attrs["subject"] == "r1"
    assert attrs["datacontenttype"] == JSON
    assert (attrs["batonrun"], attrs["batonstep"], attrs["traceparent"]) == ("team-a/r1", "2", tp)
    assert event.get_id() == "uid-1/2/x/t1"
    assert data_of(event) == {
        "run": {"namespace": "team-a", "name": "r1", "uid": "uid-1"},
        "step": 2,
        "extra": 1,
    }


def test_unset_extensions_are_left_out():
    """No traceparent given: the attribute is absent, not empty."""
    assert "traceparent" not in run_event("t", REF, 0).get_attributes()


def test_run_events_survive_the_http_binary_binding():
    """Over HTTP binary mode the run, step and extensions come back unchanged."""
    event = run_event("dev.baton.x", REF, 0, traceparent="00-a-b-01")
    back = http.from_binary_event(http.to_binary_event(event))
    assert run_ref_of(back) == REF
    assert step_of(back) == 0
    assert back.get_extension("batonrun") == "team-a/r1"
    assert back.get_id() == event.get_id()


def test_data_of_reads_json_bytes_and_strings():
    """Data that arrived as JSON text is parsed."""
    attrs = {"type": "t", "source": "/s", "id": "1", "specversion": "1.0"}
    assert data_of(CloudEvent(attrs, b'{"a": 1}')) == {"a": 1}
    assert data_of(CloudEvent(attrs, '{"a": 2}')) == {"a": 2}


@pytest.mark.parametrize("data", [b"{broken", b"[1, 2]", None, b""])
def test_data_that_is_not_a_json_object_is_malformed(data):
    """Broken JSON, arrays and missing data raise MalformedEvent naming the event."""
    event = CloudEvent({"type": "t", "source": "/s", "id": "ev-9", "specversion": "1.0"}, data)
    with pytest.raises(MalformedEvent, match="ev-9"):
        data_of(event)


def test_run_ref_defaults_the_namespace():
    """A run reference without namespace means default."""
    event = make_event("t", "/s", {"run": {"name": "r1"}, "step": 0}, id_="1")
    assert run_ref_of(event) == RunRef("default", "r1", "")


@pytest.mark.parametrize("run", [None, "r1", {"namespace": "x"}, {"name": ""}])
def test_a_missing_run_name_is_malformed(run):
    """data.run must be an object with a name."""
    with pytest.raises(MalformedEvent, match=r"data\.run\.name"):
        run_ref_of(make_event("t", "/s", {"run": run, "step": 0}, id_="1"))


@pytest.mark.parametrize("step", [-1, "1", True, None, 1.5])
def test_a_bad_step_is_malformed(step):
    """data.step must be a non-negative integer (booleans are not)."""
    with pytest.raises(MalformedEvent, match=r"data\.step"):
        step_of(make_event("t", "/s", {"run": {"name": "r"}, "step": step}, id_="1"))


def test_run_ref_of_a_resource():
    """RunRef.of reads namespace, name and uid; key is namespace/name."""
    ref = RunRef.of({"metadata": {"name": "r1", "uid": "u"}})
    assert (ref, ref.key) == (RunRef("default", "r1", "u"), "default/r1")
