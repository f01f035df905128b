"""The expressions of an AgentTrigger's spec, compiled: what apply time checks.

Every store refuses an AgentTrigger whose condition, templates or schedule do not compile
(``functions.resources.schema``), naming the field and the position; the trigger
function compiles the same way and marks a trigger that got in another way (``kubectl
apply``: no webhook) ``Ready=False`` with the same message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from functions.expressions.condition import Condition, ConditionError, compile_condition
from functions.expressions.schedule import Schedule, ScheduleError, compile_schedule
from functions.expressions.template import Template, TemplateError, compile_template

__all__ = ["SOURCES", "SpecError", "TriggerExpressions", "compile_expressions", "source_kind"]

SOURCES: Final = ("kubernetes", "cloudEvent", "nats", "schedule")
_ROUTING: Final = ("channel", "account", "thread", "replyTo")


class SpecError(ValueError):
    """A spec field that cannot work; ``field`` is its path (``spec.when``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TriggerExpressions:
    """The compiled condition, templates and schedule of one trigger."""

    source: str
    task: Template
    when: Condition | None = None
    dedupe_key: Template | None = None
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


def compile_expressions(spec: Mapping[str, Any]) -> TriggerExpressions:
    """Compile a (schema-valid) spec's expressions; ``SpecError`` names field and position."""
    kind = source_kind(spec)
    source_spec = spec["source"][kind] or {}
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
    return TriggerExpressions(
        source=kind,
        task=_template("spec.run.task", str(run.get("task", ""))),
        when=when,
        dedupe_key=_template("spec.dedupe.key", dedupe["key"]) if dedupe.get("key") else None,
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
