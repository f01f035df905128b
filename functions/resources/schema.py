"""Validate and default resources against the CRDs, as a kube-apiserver does.

The CRDs in ``config/crd`` are the one source of the schemas: every store
(SQLite, Kubernetes, in-memory fakes) calls ``validate_and_default`` so the same
YAML is accepted or refused with the same message in every shape. Field
validation is strict (unknown fields are errors, as ``kubectl --validate=strict``)
except under ``x-kubernetes-preserve-unknown-fields``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from functions.ports import API_VERSION, GROUP, VERSION, Invalid, Resource
from functions.resources.object_meta import check_metadata
from functions.resources.openapi import NOTHING, FieldError, NodeCheck, compile_schema

__all__ = [
    "KindInfo",
    "crd_dir",
    "kind_for",
    "kind_info",
    "known_kinds",
    "plural_of",
    "resource_name",
    "validate_and_default",
]

_ROOT_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})


@dataclass(frozen=True)
class KindInfo:
    """One CRD's names and compiled schema parts."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    required: tuple[str, ...]
    spec: NodeCheck
    status: NodeCheck

    @property
    def resource(self) -> str:
        """The API server's name for the resource, e.g. ``agentruns.baton.dev``."""
        return f"{self.plural}.{GROUP}"


def crd_dir() -> Path:
    """Where the CRDs live: $BATON_CRD_DIR, else config/crd of this checkout."""
    configured = os.environ.get("BATON_CRD_DIR")
    if configured:
        return Path(configured)
    return _checkout_crd_dir()


@functools.lru_cache(maxsize=1)
def _checkout_crd_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "config" / "crd"


@functools.lru_cache(maxsize=4)
def _load(directory: str) -> dict[str, KindInfo]:
    import yaml  # only when the CRDs are first needed

    kinds: dict[str, KindInfo] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        with path.open(encoding="utf-8") as f:
            # libyaml's loader when present: ~10x faster, and this is on a function's first event.
            for doc in yaml.load_all(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    info = _compile_crd(doc, path.name)
                    if info is not None:
                        kinds[info.kind] = info
    if not kinds:
        raise FileNotFoundError(f"no baton.dev CRDs found in {directory}")
    return kinds


def _compile_crd(doc: Mapping[str, Any], where: str) -> KindInfo | None:
    spec = doc["spec"]
    if spec.get("group") != GROUP:
        return None
    version = next((v for v in spec["versions"] if v["name"] == VERSION), None)
    if version is None:
        return None
    root = version["schema"]["openAPIV3Schema"]
    props = root.get("properties") or {}
    names = spec["names"]
    empty = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return KindInfo(
        kind=names["kind"],
        plural=names["plural"],
        singular=names.get("singular", names["kind"].lower()),
        short_names=tuple(names.get("shortNames") or ()),
        required=tuple(root.get("required") or ()),
        spec=compile_schema(props.get("spec", empty), f"{where}:spec"),
        status=compile_schema(props.get("status", empty), f"{where}:status"),
    )


def _registry() -> dict[str, KindInfo]:
    # Keyed on the env value, not a resolved path: this runs on every write.
    return _load_for(os.environ.get("BATON_CRD_DIR") or "")


@functools.lru_cache(maxsize=4)
def _load_for(configured: str) -> dict[str, KindInfo]:
    return _load(str(crd_dir()))


def known_kinds() -> list[str]:
    """The kinds the CRDs define, e.g. ``['Agent', 'AgentRun', 'MCPServer', 'Model']``."""
    return sorted(_registry())


def kind_info(kind: str) -> KindInfo:
    """The names and schema of ``kind``; Invalid when no CRD defines it."""
    info = _registry().get(kind)
    if info is None:
        raise Invalid(f'no matches for kind "{kind}" in version "{API_VERSION}"', field="kind")
    return info


def kind_for(name: str) -> str:
    """The kind for a kind, plural, singular or short name (``ar`` -> ``AgentRun``)."""
    wanted = name.lower()
    for info in _registry().values():
        if wanted in (info.kind.lower(), info.plural, info.singular, *info.short_names):
            return info.kind
        if wanted == info.resource:
            return info.kind
    raise Invalid(f'the server doesn\'t have a resource type "{name}"', field="kind")


def plural_of(kind: str) -> str:
    """The plural resource name of ``kind`` (``AgentRun`` -> ``agentruns``)."""
    return kind_info(kind).plural


def resource_name(kind: str) -> str:
    """The group-qualified resource of ``kind`` (``AgentRun`` -> ``agentruns.baton.dev``)."""
    return kind_info(kind).resource


def validate_and_default(
    obj: Resource, *, subresource: str | None = None, stored: Resource | None = None
) -> Resource:
    """Apply CRD defaults to ``obj`` in place and validate it; raises Invalid.

    ``subresource=None`` checks metadata and spec (status is the status
    subresource's business and is not looked at); ``"status"`` checks metadata
    and status only, as a status write cannot change anything else. Given the
    ``stored`` object a status write replaces, only the parts of status that differ
    from it are walked (the rest was checked when it was written).
    """
    if subresource not in (None, "status"):
        raise ValueError(f"unknown subresource {subresource!r}")
    if not isinstance(obj, dict):
        raise Invalid("the object must be a JSON object", field="")
    kind = obj.get("kind")
    if obj.get("apiVersion") != API_VERSION or not isinstance(kind, str):
        raise Invalid(
            f'no matches for kind "{kind}" in version "{obj.get("apiVersion")}"', field="kind"
        )
    info = kind_info(kind)
    errors: list[FieldError] = []
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        # A status write keeps the stored metadata whatever it is sent, so only the
        # name it addresses matters there.
        if subresource is None:
            check_metadata(metadata, errors)
        elif not metadata.get("name"):
            errors.append(FieldError("metadata.name", "Required value: name is required"))
    else:
        errors.append(FieldError("metadata", "Required value"))
        metadata = {}
    for key in obj:
        if key not in _ROOT_FIELDS:
            errors.append(FieldError(key, "field not declared in schema", True))
    if subresource == "status":
        if "status" in obj:
            was = (stored or {}).get("status", NOTHING)
            info.status(obj["status"], "status", errors, was)
    else:
        for key in info.required:
            if key not in obj:
                errors.append(FieldError(key, "Required value"))
        if "spec" in obj:
            info.spec(obj["spec"], "spec", errors)
        if not errors and kind in _SEMANTIC_CHECKS:
            errors.extend(_SEMANTIC_CHECKS[kind](obj))
    if errors:
        raise _invalid(info, str(metadata.get("name") or ""), errors)
    return obj


def _trigger_checks(obj: Resource) -> list[FieldError]:
    """An AgentTrigger's condition, templates and schedule compile (no webhook in 1.20)."""
    from functions.expressions.trigger_spec import SpecError, compile_expressions

    try:
        compile_expressions(obj.get("spec") or {})
    except SpecError as exc:
        return [FieldError(exc.field, f"Invalid value: {exc.message}")]
    return []


# What a schema cannot say: checked after it, in every store, before anything is written.
_SEMANTIC_CHECKS: Final[Mapping[str, Callable[[Resource], list[FieldError]]]] = {
    "AgentTrigger": _trigger_checks,
}


def _invalid(info: KindInfo, name: str, errors: list[FieldError]) -> Invalid:
    rendered = [e.render() for e in errors]
    detail = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    return Invalid(f'{info.kind}.{GROUP} "{name}" is invalid: {detail}', field=errors[0].path)
