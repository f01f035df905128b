"""Checking event data against the catalogue's schemas without importing jsonschema first.

jsonschema costs ~0.1 s to import and ~0.1 ms per event; a function must answer its first
event within 0.3 s of exec. The catalogue's schemas use a handful of keywords, so a schema
made only of those compiles to a plain predicate here; valid data (the normal case) never
touches jsonschema. Data the predicate refuses goes to ``events.catalogue.validate_data``,
which stays the judge and writes the message; a schema with any other keyword always goes
there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Final

from events.catalogue import schema_for, validate_data

__all__ = ["check_data", "compile_subset", "prepare"]

Predicate = Callable[[Any], bool]

_ANNOTATIONS: Final = frozenset({"$schema", "$id", "title", "description", "default", "examples"})
_KEYWORDS: Final = _ANNOTATIONS | {
    "type",
    "required",
    "properties",
    "additionalProperties",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "pattern",
    "enum",
}


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if name == "array":
        return isinstance(value, list)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return name == "number" or isinstance(value, int) or value.is_integer()


def compile_subset(schema: Mapping[str, Any]) -> Predicate | None:
    """A predicate equal to the schema's, or None when it uses a keyword outside the subset."""
    if not isinstance(schema, Mapping) or set(schema) - _KEYWORDS:
        return None
    checks: list[Predicate] = []
    if "type" in schema:
        names = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
        checks.append(lambda v: any(_is_type(v, n) for n in names))
    if "enum" in schema:
        allowed = list(schema["enum"])
        checks.append(lambda v: any(v == a and type(v) is type(a) for a in allowed))
    if "pattern" in schema:
        regex = re.compile(schema["pattern"])
        checks.append(lambda v: not isinstance(v, str) or regex.search(v) is not None)
    if "minLength" in schema or "maxLength" in schema:
        shortest, longest = int(schema.get("minLength", 0)), schema.get("maxLength")
        checks.append(
            lambda v: (
                not isinstance(v, str)
                or (len(v) >= shortest and (longest is None or len(v) <= int(longest)))
            )
        )
    if "minimum" in schema or "maximum" in schema:
        low, high = schema.get("minimum"), schema.get("maximum")

        def in_range(v: Any) -> bool:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return True
            return (low is None or v >= low) and (high is None or v <= high)

        checks.append(in_range)
    if "required" in schema:
        required = list(schema["required"])
        checks.append(lambda v: not isinstance(v, dict) or all(k in v for k in required))
    members: dict[str, Predicate] = {}
    for key, sub in (schema.get("properties") or {}).items():
        compiled = compile_subset(sub)
        if compiled is None:
            return None
        members[key] = compiled
    extra: Predicate | None = None
    if "additionalProperties" in schema:
        rule = schema["additionalProperties"]
        if isinstance(rule, bool):
            extra = (lambda _v: True) if rule else (lambda _v: False)
        else:
            extra = compile_subset(rule)
            if extra is None:
                return None
    if members or extra is not None:

        def object_members(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, value in v.items():
                member = members.get(key, extra)
                if member is not None and not member(value):
                    return False
            return True

        checks.append(object_members)
    return lambda v: all(check(v) for check in checks)


@cache
def _predicate(type_: str) -> Predicate | None:
    return compile_subset(schema_for(type_))


def check_data(type_: str, data: Any) -> None:
    """Raise ``MalformedEvent`` (the catalogue's message) when ``data`` is off the schema."""
    predicate = _predicate(type_)
    if predicate is None or not predicate(data):
        validate_data(type_, data)


def prepare(type_: str) -> None:
    """Compile ``type_``'s check ahead of its first event (jsonschema stays unimported)."""
    _predicate(type_)
