"""An AgentTrigger's spec, compiled once per generation: condition, templates, schedule.

The expressions are compiled by ``functions.expressions.trigger_spec``, as every store
checks them at apply time; here they are joined with the durations and cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from functions.expressions.condition import Condition
from functions.expressions.schedule import Schedule
from functions.expressions.template import Template
from functions.expressions.trigger_spec import SpecError, compile_expressions, source_kind
from functions.ports import API_VERSION, Resource
from functions.run.status import parse_duration

__all__ = [
    "KIND",
    "CompiledTrigger",
    "SpecError",
    "compile_trigger",
    "compiled",
    "owner_reference",
    "source_kind",
]

KIND: Final = "AgentTrigger"
_CACHE_SIZE: Final = 512


def owner_reference(trigger_meta: Mapping[str, Any], *, block_deletion: bool) -> dict[str, Any]:
    """The ownerReference that makes an object the AgentTrigger's (deleted with it)."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": trigger_meta["name"],
        "uid": trigger_meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": block_deletion,
    }


@dataclass(frozen=True)
class CompiledTrigger:
    """Everything a trigger needs per event, compiled."""

    source: str
    source_spec: Mapping[str, Any]
    task: Template
    when: Condition | None = None
    dedupe_key: Template | None = None
    dedupe_window: float = 0.0
    rate_runs: int = 0
    rate_period: float = 0.0
    schedule: Schedule | None = None
    labels: Mapping[str, Template] = field(default_factory=dict)
    routing: Mapping[str, Template] = field(default_factory=dict)
    session_key: Template | None = None


def _duration(path: str, value: str | None) -> float:
    try:
        return parse_duration(value) or 0.0
    except ValueError as exc:
        raise SpecError(path, str(exc)) from None


def compile_trigger(spec: Mapping[str, Any]) -> CompiledTrigger:
    """Compile a (schema-valid) spec; ``SpecError`` names the field and position."""
    expressions = compile_expressions(spec)
    dedupe = spec.get("dedupe") or {}
    rate = spec.get("rateLimit") or {}
    return CompiledTrigger(
        source=expressions.source,
        source_spec=dict(spec["source"][expressions.source] or {}),
        task=expressions.task,
        when=expressions.when,
        dedupe_key=expressions.dedupe_key,
        dedupe_window=_duration("spec.dedupe.window", dedupe.get("window")),
        rate_runs=int(rate.get("runs") or 0),
        rate_period=_duration("spec.rateLimit.per", rate.get("per")),
        schedule=expressions.schedule,
        labels=expressions.labels,
        routing=expressions.routing,
        session_key=expressions.session_key,
    )


_cache: OrderedDict[tuple[str, str], CompiledTrigger | SpecError] = OrderedDict()
_lock = threading.Lock()


def compiled(trigger: Resource) -> CompiledTrigger:
    """The compiled spec of a stored trigger, cached by uid and generation; or SpecError."""
    meta = trigger.get("metadata") or {}
    key = (
        f"{meta.get('namespace')}/{meta.get('name')}/{meta.get('uid', '')}",
        str(meta.get("generation", meta.get("resourceVersion"))),
    )
    with _lock:
        hit = _cache.get(key)
    if hit is None:
        try:
            hit = compile_trigger(trigger.get("spec") or {})
        except SpecError as exc:
            hit = exc
        with _lock:
            _cache[key] = hit
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    if isinstance(hit, SpecError):
        raise hit
    return hit
