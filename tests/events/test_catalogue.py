"""The catalogue: every event type has a data schema, and emitted events meet it."""

from __future__ import annotations

from importlib import resources

import pytest

from events import types
from events.apiserver import resource_event
from events.catalogue import schema_for, validate_data
from events.envelope import RunRef, data_of, run_event
from events.errors import MalformedEvent

REF = RunRef("default", "r1", "u1")


def test_every_type_has_a_schema_and_every_schema_a_type():
    """events/schemas holds exactly one file per catalogued type, each a 2020-12 schema."""
    files = {p.name for p in resources.files("events").joinpath("schemas").iterdir()}
    assert files == {f"{t}.json" for t in types.ALL_TYPES}
    for type_ in types.ALL_TYPES:
        schema = schema_for(type_)
        assert schema["$schema"].endswith("2020-12/schema")
        assert schema["$id"].endswith(f"{type_}.json")


def test_the_schemas_are_valid_json_schema():
    """Each schema passes the metaschema check."""
    from jsonschema import Draft202012Validator

    for type_ in types.ALL_TYPES:
        Draft202012Validator.check_schema(schema_for(type_))


@pytest.mark.parametrize(
    ("type_", "extra", "step"),
    [
        (types.RUN_ACCEPTED, {}, 0),
        (types.LLM_REQUESTED, {}, 1),
        (types.TOOL_REQUESTED, {"toolCallId": "t1"}, 1),
        (types.TOOL_APPROVED, {"toolCallId": "t1"}, 1),
        (types.RUN_INPUT_RECEIVED, {"index": 1}, 1),
        (types.TOOL_COMPLETED, {"toolCallId": "t1"}, 1),
        (types.RUN_COMPLETED, {"result": "42"}, 2),
        (types.RUN_FAILED, {"reason": "MaxTurnsExceeded", "message": "m"}, 2),
        (types.RUN_TIMEDOUT, {"reason": "Timeout", "message": "m"}, 2),
        (
            types.RUN_FINISHED,
            {
                "phase": "Succeeded",
                "result": "42",
                "error": None,
                "tokenUsage": {"total": 1},
                "routing": None,
            },
            2,
        ),
    ],
)
def test_events_the_transitions_emit_meet_their_schema(type_, extra, step):
    """The data shapes the transitions build validate against the published schemas."""
    validate_data(type_, data_of(run_event(type_, REF, step, extra)))


def test_resource_events_meet_their_schema():
    """ApiServerSource-shaped events validate too."""
    obj = {"apiVersion": "baton.dev/v1alpha1", "kind": "AgentRun", "metadata": {"name": "r1"}}
    event = resource_event("ADDED", obj)
    validate_data(event.get_type(), data_of(event))


def test_a_tick_may_carry_no_data():
    """dev.baton.tick data is optional (PingSource sends none) and carries no settings."""
    validate_data(types.TICK, None)
    assert schema_for(types.TICK)["properties"] == {}


def test_violations_name_the_field():
    """The error names the field path and the type."""
    with pytest.raises(MalformedEvent) as caught:
        validate_data(
            types.TOOL_REQUESTED,
            {"run": {"namespace": "d", "name": "r"}, "step": 1, "toolCallId": ""},
        )
    assert str(caught.value).startswith(f"{types.TOOL_REQUESTED}: data.toolCallId")


def test_unknown_types_are_malformed():
    """A type outside the catalogue is refused by name."""
    with pytest.raises(MalformedEvent, match=r"dev\.baton\.nope"):
        schema_for("dev.baton.nope")
