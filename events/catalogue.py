"""The published contract: a JSON Schema for the data of every event type."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from events.errors import MalformedEvent
from events.types import ALL_TYPES

__all__ = ["schema_for", "validate_data"]


@cache
def schema_for(type_: str) -> dict[str, Any]:
    """The JSON Schema of ``type_``'s data (``events/schemas/<type>.json``)."""
    if type_ not in ALL_TYPES:
        raise MalformedEvent(f"unknown event type {type_!r}")
    text = resources.files("events").joinpath("schemas", f"{type_}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(type_: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema_for(type_))


def validate_data(type_: str, data: Any) -> None:
    """Raise ``MalformedEvent`` naming the first field of ``data`` that breaks the contract."""
    error = next(
        iter(sorted(_validator(type_).iter_errors(data), key=lambda e: list(e.path))), None
    )
    if error is not None:
        where = (
            "data." + ".".join(str(p) for p in error.absolute_path)
            if error.absolute_path
            else "data"
        )
        raise MalformedEvent(f"{type_}: {where}: {error.message}")
