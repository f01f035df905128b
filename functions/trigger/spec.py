"""An AgentTrigger's spec, compiled once per generation: condition, templates, schedule.

``compile_trigger`` is what both apply time (the stores' semantic check) and the
trigger function use, so a trigger refused at ``baton apply`` is the same one the
function marks ``Ready=False`` when it arrived another way (``kubectl apply``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from functions.agentrun import parse_duration
from functions.ports import Resource
from functions.trigger.condition import Condition, ConditionError, compile_condition
from functions.trigger.schedule import Schedule, ScheduleError, compile_schedule
from functions.trigger.template import Template, TemplateError, compile_template

__all__ = ["KIND", "CompiledTrigger", "SpecError", "compile_trigger", "compiled", "source_kind"]

KIND: Final = "AgentTrigger"
SOURCES: Final = ("kubernetes", "cloudEvent", "nats", "schedule")
_ROUTING: Final = ("channel", "account", "thread", "replyTo")
_CACHE_SIZE: Final = 512


class SpecError(ValueError):
    """A spec field that cannot work; ``field`` is its path (``spec.when``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


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


def source_kind(spec: Mapping[str, Any]) -> str:
    """Which source the spec has (``kubernetes``, ``cloudEvent``, ``nats``, ``schedule``)."""
    present = [s for s in SOURCES if s in (spec.get("source") or {})]
    if len(present) != 1:
        raise SpecError("spec.source", f"exactly one of {', '.join(SOURCES)} (found {present})")
    return present[0]


def _template(path: str, source: str) -> Template:
    try:
        return compile_template(path, source)
    except TemplateError as exc:
        raise SpecError(path, str(exc)) from None


def _duration(path: str, value: str | None) -> float:
    try:
        return parse_duration(value) or 0.0
    except ValueError as exc:
        raise SpecError(path, str(exc)) from None


def compile_trigger(spec: Mapping[str, Any]) -> CompiledTrigger:
    """Compile a (schema-valid) spec; ``SpecError`` names the field and position."""
    kind = source_kind(spec)
    source_spec = dict(spec["source"][kind] or {})
    run = spec.get("run") or {}
    when = None
    if spec.get("when"):
        try:
            when = compile_condition(str(spec["when"]))
        except ConditionError as exc:
            raise SpecError("spec.when", str(exc)) from None
    schedule = None
    if kind == "schedule":
        try:
            schedule = compile_schedule(
                str(source_spec.get("cron", "")),
                source_spec.get("timeZone"),
                source_spec.get("startingDeadlineSeconds"),
            )
        except ScheduleError as exc:
            raise SpecError("spec.source.schedule", str(exc)) from None
    dedupe = spec.get("dedupe") or {}
    rate = spec.get("rateLimit") or {}
    return CompiledTrigger(
        source=kind,
        source_spec=source_spec,
        task=_template("spec.run.task", str(run.get("task", ""))),
        when=when,
        dedupe_key=_template("spec.dedupe.key", dedupe["key"]) if dedupe.get("key") else None,
        dedupe_window=_duration("spec.dedupe.window", dedupe.get("window")),
        rate_runs=int(rate.get("runs") or 0),
        rate_period=_duration("spec.rateLimit.per", rate.get("per")),
        schedule=schedule,
        labels={
            k: _template(f"spec.run.labels.{k}", str(v))
            for k, v in (run.get("labels") or {}).items()
        },
        routing={
            k: _template(f"spec.run.routing.{k}", str(v))
            for k, v in (run.get("routing") or {}).items()
            if k in _ROUTING
        },
        session_key=_template("spec.run.sessionKey", run["sessionKey"])
        if run.get("sessionKey")
        else None,
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
