"""The fast data check agrees with jsonschema on every catalogue type, valid data and broken."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from events import types
from events.catalogue import schema_for
from events.datacheck import check_data, compile_subset
from events.errors import MalformedEvent
from functions import chain
from tests.http.conftest import World

ODD_VALUES: list[Any] = [None, True, 0, -1, 1.5, 2.0, "", "x", "Not_A_Name", {}, [], "x" * 300]


def chain_events(world: World) -> list[tuple[str, Any]]:
    """(type, data) of every event one tool-using run emits, plus its request and add."""
    world.setup(
        [
            {"text": "t", "toolCalls": [{"name": "calculate", "input": {"expression": "1+1"}}]},
            {"text": "2"},
        ]
    )
    run = world.new_run()
    seen = [(types.RUN_REQUESTED, {"agent": "helper", "task": "t", "timeout": "5m"})]
    pending = [world.added(run)]
    while pending:
        event = pending.pop(0)
        seen.append((event.get_type(), event.get_data()))
        for route in chain.ROUTES:
            if route.filter.get("type") == event.get_type():
                pending.extend(world.step(route.function, event))
                break
    return seen


def mutations(data: Any) -> list[Any]:
    """``data`` with each top-level and nested member replaced by odd values or removed."""
    out = [copy.deepcopy(v) for v in ODD_VALUES]
    if isinstance(data, dict):
        for key, value in data.items():
            for odd in ODD_VALUES:
                out.append({**data, key: odd})
            out.append({k: v for k, v in data.items() if k != key})
            out.extend({**data, key: inner} for inner in mutations(value)[len(ODD_VALUES) :])
    return out


def test_fast_check_agrees_with_jsonschema(world: World) -> None:
    """For real chain data and hundreds of mutations, valid means valid for both checks."""
    cases = chain_events(world)
    assert {t for t, _ in cases} >= {types.RUN_ACCEPTED, types.TOOL_REQUESTED, types.RUN_FINISHED}
    compared = 0
    for type_, data in cases:
        predicate = compile_subset(schema_for(type_))
        assert predicate is not None, f"{type_}: schema outside the fast subset"
        judge = Draft202012Validator(schema_for(type_))
        assert predicate(data), f"{type_}: real data refused"
        for variant in mutations(data):
            assert predicate(variant) == judge.is_valid(variant), (type_, variant)
            compared += 1
    assert compared > 500


@pytest.mark.parametrize("type_", sorted(types.ALL_TYPES))
def test_every_catalogue_schema_compiles_to_the_fast_check(type_: str) -> None:
    """No schema falls back to jsonschema on the happy path."""
    assert compile_subset(schema_for(type_)) is not None


def test_refused_data_gets_the_catalogues_message() -> None:
    """A refusal names the field as events.catalogue words it."""
    with pytest.raises(MalformedEvent, match=r"data: 'task' is a required property"):
        check_data(types.RUN_REQUESTED, {"agent": "helper"})


def test_keywords_outside_the_subset_fall_back() -> None:
    """A schema using oneOf is not compiled (jsonschema judges it)."""
    assert compile_subset({"type": "object", "properties": {"a": {"oneOf": []}}}) is None
