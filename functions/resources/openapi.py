"""Compile a structural OpenAPI v3 schema (a CRD's) into a fast validator-defaulter.

A compiled node is a closure ``check(value, path, errors)`` that applies
``default:`` values in place and appends ``FieldError``s. Compilation happens once per CRD,
so a write only pays for walking its own object. Messages follow the
kube-apiserver's wording so users can search for them.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Check", "FieldError", "SchemaError", "compile_schema"]


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
_FORMATS: Mapping[str, re.Pattern[str]] = {"date-time": _RFC3339}
# Formats kube-openapi knows but we do not check are accepted as documentation.
_IGNORED_FORMATS = frozenset({"int32", "int64", "float", "double", "byte", ""})
_TYPE_NAMES: Mapping[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _accepted_types(expected: str | None) -> frozenset[type]:
    if expected is None:
        return frozenset(_TYPE_NAMES)
    if expected == "number":
        return frozenset({int, float})
    return frozenset(t for t, name in _TYPE_NAMES.items() if name == expected)


def _quote(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _default_factory(default: Any) -> Callable[[], Any]:
    if isinstance(default, (dict, list)):
        return lambda: copy.deepcopy(default)
    return lambda: default


def compile_schema(schema: Mapping[str, Any], where: str = "") -> Check:
    """Compile one structural schema node (and its children) into a Check."""
    typ = schema.get("type")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    if typ is None and not preserve and "x-kubernetes-int-or-string" not in schema:
        raise SchemaError(f"{where or '<root>'}: structural schemas need a type")
    if "x-kubernetes-validations" in schema:
        raise SchemaError(f"{where}: CEL validations are not supported (kube 1.20)")
    fmt = schema.get("format", "")
    if fmt not in _FORMATS and fmt not in _IGNORED_FORMATS:
        raise SchemaError(f"{where}: unknown format {fmt!r}")
    nullable = bool(schema.get("nullable"))
    # type() lookup in a set: bool is not an integer here, as in JSON.
    accepted = _accepted_types(typ)
    value_checks = _value_checks(schema, where)
    children = _children(schema, where, typ, preserve)

    def check(value: Any, path: str, errors: list[FieldError]) -> None:
        if value is None and nullable:
            return
        if type(value) not in accepted:
            shown = _json_type(value)
            errors.append(
                FieldError(
                    path,
                    f'Invalid value: "{shown}": {path} in body must be of type {typ}: "{shown}"',
                )
            )
            return
        for value_check in value_checks:
            value_check(value, path, errors)
        if children is not None:
            children(value, path, errors)

    return check


def _children(
    schema: Mapping[str, Any], where: str, typ: str | None, preserve: bool
) -> Check | None:
    if typ == "object":
        return _object_children(schema, where, preserve)
    if typ == "array":
        if "items" not in schema:
            raise SchemaError(f"{where}: arrays need items")
        return _array_children(schema, where)
    return None


def _object_children(schema: Mapping[str, Any], where: str, preserve: bool) -> Check | None:
    props: dict[str, Check] = {
        key: compile_schema(sub, f"{where}.{key}")
        for key, sub in (schema.get("properties") or {}).items()
    }
    defaults = [
        (key, _default_factory(sub["default"]))
        for key, sub in (schema.get("properties") or {}).items()
        if "default" in sub
    ]
    # kube-apiserver >= 1.20 drops null values of non-nullable fields before
    # defaulting (so `maxTokens:` left empty in YAML gets the default).
    prunable = frozenset(
        key for key, sub in (schema.get("properties") or {}).items() if not sub.get("nullable")
    )
    required = tuple(schema.get("required") or ())
    extra = schema.get("additionalProperties")
    extra_check = compile_schema(extra, f"{where}.*") if isinstance(extra, Mapping) else None
    if not props and not required and extra_check is None and preserve:
        return None

    def children(value: dict[str, Any], path: str, errors: list[FieldError]) -> None:
        prefix = f"{path}." if path else ""
        if None in value.values():
            for key in [k for k, v in value.items() if v is None and k in prunable]:
                del value[key]
        for key, make in defaults:
            if key not in value:
                value[key] = make()
        for key in required:
            if key not in value:
                errors.append(FieldError(prefix + key, "Required value"))
        for key, item in value.items():
            prop = props.get(key)
            if prop is not None:
                prop(item, prefix + key, errors)
            elif extra_check is not None:
                extra_check(item, prefix + key, errors)
            elif not preserve:
                errors.append(FieldError(prefix + key, "field not declared in schema", True))

    return children


def _array_children(schema: Mapping[str, Any], where: str) -> Check:
    item_check = compile_schema(schema["items"], f"{where}[]")
    map_keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
    list_type = schema.get("x-kubernetes-list-type", "atomic")

    def children(value: list[Any], path: str, errors: list[FieldError]) -> None:
        for index, item in enumerate(value):
            item_check(item, f"{path}[{index}]", errors)
        if list_type == "map" and map_keys and len(value) > 1:
            seen: set[str] = set()
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    ident = _quote({k: item.get(k) for k in map_keys})
                    if ident in seen:
                        errors.append(FieldError(f"{path}[{index}]", f"Duplicate value: {ident}"))
                    seen.add(ident)
        elif list_type == "set" and len(value) > 1:
            idents = [_quote(item) for item in value]
            for index, ident in enumerate(idents):
                if ident in idents[:index]:
                    errors.append(FieldError(f"{path}[{index}]", f"Duplicate value: {ident}"))

    return children


def _value_checks(schema: Mapping[str, Any], where: str) -> list[Check]:
    checks: list[Check] = []
    if "enum" in schema:
        allowed = list(schema["enum"])
        supported = ", ".join(_quote(v) for v in allowed)

        def enum(value: Any, path: str, errors: list[FieldError]) -> None:
            if value not in allowed:
                errors.append(
                    FieldError(
                        path, f"Unsupported value: {_quote(value)}: supported values: {supported}"
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
    if fmt in _FORMATS:
        checks.append(_format(fmt, _FORMATS[fmt]))
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
                    f"Invalid value: {_quote(value)}: {path} in body should be "
                    f"{word} than or equal to {limit}",
                )
            )

    return bound


def _length(limit: int, word: str, unit: str) -> Check:
    def length(value: Any, path: str, errors: list[FieldError]) -> None:
        size = len(value)
        if (size < limit) if word == "at least" else (size > limit):
            shown = _quote(value) if isinstance(value, str) else str(size)
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
                    path, f"Invalid value: {_quote(value)}: {path} in body should match '{pattern}'"
                )
            )

    return matches


def _format(name: str, compiled: re.Pattern[str]) -> Check:
    def formatted(value: Any, path: str, errors: list[FieldError]) -> None:
        if compiled.match(value) is None:
            errors.append(
                FieldError(
                    path,
                    f"Invalid value: {_quote(value)}: {path} in body must be of type {name}: "
                    f"{_quote(value)}",
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
                    f'Invalid value: "{_json_type(value)}": {path} in body must validate '
                    f"{wanted} schema ({name}): {described}",
                )
            )

    return combined


def _branch(sub: Mapping[str, Any], where: str) -> Check:
    if "type" in sub or "default" in sub:
        raise SchemaError(f"{where}: no type or default inside {where} (structural schema)")
    required = tuple(sub.get("required") or ())
    checks = _value_checks(sub, where)

    def branch(value: Any, path: str, errors: list[FieldError]) -> None:
        if isinstance(value, dict):
            for key in required:
                if key not in value:
                    errors.append(FieldError(f"{path}.{key}", "Required value"))
        for value_check in checks:
            value_check(value, path, errors)

    return branch
