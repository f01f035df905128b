"""Compile a structural OpenAPI v3 schema (a CRD's) into a fast validator-defaulter.

A compiled node is a closure ``check(value, path, errors)`` that applies
``default:`` values in place and appends ``FieldError``s. Compilation happens once per CRD,
so a write only pays for walking its own object; given ``before`` (the stored value, which
was checked and defaulted when it was written), it walks only what differs from it.
Messages follow the kube-apiserver's wording so users can search for them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from functions.resources.openapi_values import (
    FORMATS,
    IGNORED_FORMATS,
    TYPE_NAMES,
    Check,
    FieldError,
    SchemaError,
    json_type,
    quote,
    value_checks,
)

__all__ = ["NOTHING", "Check", "FieldError", "NodeCheck", "SchemaError", "compile_schema"]

NOTHING: Final[Any] = object()  # no stored value to compare with: check everything


class NodeCheck(Protocol):
    """A compiled schema node: defaults ``value`` in place, appends what is wrong with it."""

    def __call__(
        self, value: Any, path: str, errors: list[FieldError], before: Any = NOTHING
    ) -> None: ...


_Children = Callable[[Any, str, list[FieldError], Any], None]


def _accepted_types(expected: str | None) -> frozenset[type]:
    if expected is None:
        return frozenset(TYPE_NAMES)
    if expected == "number":
        return frozenset({int, float})
    return frozenset(t for t, name in TYPE_NAMES.items() if name == expected)


def _default_factory(default: Any) -> Callable[[], Any]:
    if isinstance(default, (dict, list)):
        return lambda: copy.deepcopy(default)
    return lambda: default


def compile_schema(schema: Mapping[str, Any], where: str = "") -> NodeCheck:
    """Compile one structural schema node (and its children) into a Check."""
    typ = schema.get("type")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    if typ is None and not preserve and "x-kubernetes-int-or-string" not in schema:
        raise SchemaError(f"{where or '<root>'}: structural schemas need a type")
    if "x-kubernetes-validations" in schema:
        raise SchemaError(f"{where}: CEL validations are not supported (kube 1.20)")
    fmt = schema.get("format", "")
    if fmt not in FORMATS and fmt not in IGNORED_FORMATS:
        raise SchemaError(f"{where}: unknown format {fmt!r}")
    nullable = bool(schema.get("nullable"))
    # type() lookup in a set: bool is not an integer here, as in JSON.
    accepted = _accepted_types(typ)
    checks = value_checks(schema, where)
    children = _children(schema, where, typ, preserve)

    def check(value: Any, path: str, errors: list[FieldError], before: Any = NOTHING) -> None:
        if value is None and nullable:
            return
        if before is not NOTHING and value == before:
            return  # as stored: checked and defaulted when it was written
        if type(value) not in accepted:
            shown = json_type(value)
            errors.append(
                FieldError(
                    path,
                    f'Invalid value: "{shown}": {path} in body must be of type {typ}: "{shown}"',
                )
            )
            return
        for value_check in checks:
            value_check(value, path, errors)
        if children is not None:
            children(value, path, errors, before)

    return check


def _children(
    schema: Mapping[str, Any], where: str, typ: str | None, preserve: bool
) -> _Children | None:
    if typ == "object":
        return _object_children(schema, where, preserve)
    if typ == "array":
        if "items" not in schema:
            raise SchemaError(f"{where}: arrays need items")
        return _array_children(schema, where)
    return None


def _object_children(schema: Mapping[str, Any], where: str, preserve: bool) -> _Children | None:
    props: dict[str, NodeCheck] = {
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

    def children(value: dict[str, Any], path: str, errors: list[FieldError], before: Any) -> None:
        prefix = f"{path}." if path else ""
        was = before if isinstance(before, dict) else {}
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
                prop(item, prefix + key, errors, was.get(key, NOTHING))
            elif extra_check is not None:
                extra_check(item, prefix + key, errors, was.get(key, NOTHING))
            elif not preserve:
                errors.append(FieldError(prefix + key, "field not declared in schema", True))

    return children


def _array_children(schema: Mapping[str, Any], where: str) -> _Children:
    item_check = compile_schema(schema["items"], f"{where}[]")
    map_keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
    list_type = schema.get("x-kubernetes-list-type", "atomic")

    def children(value: list[Any], path: str, errors: list[FieldError], before: Any) -> None:
        was = before if isinstance(before, list) else []
        for index, item in enumerate(value):
            stored = was[index] if index < len(was) else NOTHING
            item_check(item, f"{path}[{index}]", errors, stored)
        if list_type == "map" and map_keys and len(value) > 1:
            seen: set[str] = set()
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    ident = quote({k: item.get(k) for k in map_keys})
                    if ident in seen:
                        errors.append(FieldError(f"{path}[{index}]", f"Duplicate value: {ident}"))
                    seen.add(ident)
        elif list_type == "set" and len(value) > 1:
            idents = [quote(item) for item in value]
            for index, ident in enumerate(idents):
                if ident in idents[:index]:
                    errors.append(FieldError(f"{path}[{index}]", f"Duplicate value: {ident}"))

    return children
