"""Value validations of a structural schema: enum, bounds, lengths, pattern, format, oneOf.

Shared by the structure compiler in ``openapi``; messages use the kube-apiserver's words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FORMATS",
    "IGNORED_FORMATS",
    "TYPE_NAMES",
    "Check",
    "FieldError",
    "SchemaError",
    "json_type",
    "quote",
    "value_checks",
]


@dataclass(frozen=True)
class FieldError:
    """One problem at one field path, rendered as the API server does."""

    path: str
    detail: str
    unknown: bool = False

    def render(self) -> str:
        """The error as one line of an API-server 'is invalid' message."""
        if self.unknown:
            return f'strict decoding error: unknown field "{self.path}"'
        return f"{self.path}: {self.detail}" if self.path else self.detail


class SchemaError(ValueError):
    """The CRD's schema is not structural or uses something this compiler lacks."""


Check = Callable[[Any, str, list[FieldError]], None]

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORMATS: Mapping[str, re.Pattern[str]] = {"date-time": _RFC3339}
# Formats kube-openapi knows but we do not check are accepted as documentation.
IGNORED_FORMATS = frozenset({"int32", "int64", "float", "double", "byte", ""})
TYPE_NAMES: Mapping[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def json_type(value: Any) -> str:
    return TYPE_NAMES.get(type(value), type(value).__name__)


def quote(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def value_checks(schema: Mapping[str, Any], where: str) -> list[Check]:
    checks: list[Check] = []
    if "enum" in schema:
        allowed = list(schema["enum"])
        supported = ", ".join(quote(v) for v in allowed)

        def enum(value: Any, path: str, errors: list[FieldError]) -> None:
            if value not in allowed:
                errors.append(
                    FieldError(
                        path, f"Unsupported value: {quote(value)}: supported values: {supported}"
                    )
                )

        checks.append(enum)
    for key, word in (("minimum", "greater"), ("maximum", "less")):
        if key in schema:
            checks.append(_bound(schema[key], word))
    for key, word in (("minLength", "at least"), ("maxLength", "at most")):
        if key in schema:
            checks.append(_length(schema[key], word, "chars long"))
    for key, word in (("minItems", "at least"), ("maxItems", "at most")):
        if key in schema:
            checks.append(_length(schema[key], word, "items"))
    if "pattern" in schema:
        checks.append(_pattern(schema["pattern"]))
    fmt = schema.get("format", "")
    if fmt in FORMATS:
        checks.append(_format(fmt, FORMATS[fmt]))
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in schema:
            checks.append(_combinator(combinator, schema[combinator], where))
    return checks


def _bound(limit: float, word: str) -> Check:
    def bound(value: Any, path: str, errors: list[FieldError]) -> None:
        if (value < limit) if word == "greater" else (value > limit):
            errors.append(
                FieldError(
                    path,
                    f"Invalid value: {quote(value)}: {path} in body should be "
                    f"{word} than or equal to {limit}",
                )
            )

    return bound


def _length(limit: int, word: str, unit: str) -> Check:
    def length(value: Any, path: str, errors: list[FieldError]) -> None:
        size = len(value)
        if (size < limit) if word == "at least" else (size > limit):
            shown = quote(value) if isinstance(value, str) else str(size)
            errors.append(
                FieldError(
                    path, f"Invalid value: {shown}: {path} in body should be {word} {limit} {unit}"
                )
            )

    return length


def _pattern(pattern: str) -> Check:
    compiled = re.compile(pattern)

    def matches(value: Any, path: str, errors: list[FieldError]) -> None:
        if compiled.search(value) is None:
            errors.append(
                FieldError(
                    path, f"Invalid value: {quote(value)}: {path} in body should match '{pattern}'"
                )
            )

    return matches


def _format(name: str, compiled: re.Pattern[str]) -> Check:
    def formatted(value: Any, path: str, errors: list[FieldError]) -> None:
        if compiled.match(value) is None:
            errors.append(
                FieldError(
                    path,
                    f"Invalid value: {quote(value)}: {path} in body must be of type {name}: "
                    f"{quote(value)}",
                )
            )

    return formatted


def _combinator(name: str, subschemas: list[Mapping[str, Any]], where: str) -> Check:
    # Structural schemas allow only value validations (e.g. required) inside
    # oneOf/anyOf/allOf, so the branches are compiled without types or defaults.
    branches = [_branch(sub, f"{where}.{name}[{i}]") for i, sub in enumerate(subschemas)]
    wanted = {"oneOf": "one and only one", "anyOf": "at least one", "allOf": "all"}[name]
    described = " | ".join(
        ",".join(sub.get("required", ())) or json.dumps(sub, sort_keys=True) for sub in subschemas
    )

    def combined(value: Any, path: str, errors: list[FieldError]) -> None:
        passed = 0
        for branch in branches:
            scratch: list[FieldError] = []
            branch(value, path, scratch)
            passed += not scratch
        ok = {"oneOf": passed == 1, "anyOf": passed >= 1, "allOf": passed == len(branches)}[name]
        if not ok:
            errors.append(
                FieldError(
                    path,
                    f'Invalid value: "{json_type(value)}": {path} in body must validate '
                    f"{wanted} schema ({name}): {described}",
                )
            )

    return combined


def _branch(sub: Mapping[str, Any], where: str) -> Check:
    if "type" in sub or "default" in sub:
        raise SchemaError(f"{where}: no type or default inside {where} (structural schema)")
    required = tuple(sub.get("required") or ())
    checks = value_checks(sub, where)

    def branch(value: Any, path: str, errors: list[FieldError]) -> None:
        if isinstance(value, dict):
            for key in required:
                if key not in value:
                    errors.append(FieldError(f"{path}.{key}", "Required value"))
        for value_check in checks:
            value_check(value, path, errors)

    return branch
