"""``baton describe run NAME``: a run as ``kubectl describe`` shows a resource, Events included."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import yaml

from functions.cli.output import format_rows, short_age
from functions.observe.recorder import RecordedEvent
from functions.ports import Resource
from functions.run.status import parse_time

__all__ = ["describe", "event_rows"]


def _pairs(mapping: dict[str, Any] | None) -> list[str]:
    return [f"{k}={v}" for k, v in sorted((mapping or {}).items())] or ["<none>"]


def _field(label: str, value: Any, indent: int = 0) -> str:
    return f"{' ' * indent}{label + ':':<{20 - indent}}{value}"


def _ago(ts: float | None, now: float) -> str:
    return "-" if not ts else short_age(now - ts)


def event_rows(events: Sequence[RecordedEvent], now: float) -> list[tuple[str, ...]]:
    """Events as kubectl describe's table: Type, Reason, Age (xN over T), From, Message."""
    rows: list[tuple[str, ...]] = [("Type", "Reason", "Age", "From", "Message")]
    rows.append(tuple("-" * len(h) for h in rows[0]))
    for e in events:
        when = _ago(e.last, now)
        if e.count > 1:
            when += f" (x{e.count} over {short_age(e.last - e.first)})"
        rows.append((e.type, e.reason, when, e.component, e.message))
    return rows


def describe(run: Resource, events: Sequence[RecordedEvent] | None) -> list[str]:
    """The lines of ``baton describe run``."""
    now = time.time()
    meta, spec, st = run["metadata"], run.get("spec") or {}, run.get("status") or {}
    lines = [_field("Name", meta["name"]), _field("Namespace", meta.get("namespace", "default"))]
    for label, values in (("Labels", meta.get("labels")), ("Annotations", meta.get("annotations"))):
        first, *rest = _pairs(values)
        lines.append(_field(label, first))
        lines += [" " * 20 + v for v in rest]
    lines += [
        _field("API Version", run.get("apiVersion", "")),
        _field("Kind", run.get("kind", "")),
        _field("Created", f"{meta.get('creationTimestamp', '')} "
               f"({_ago(parse_time(meta.get('creationTimestamp')), now)} ago)"),
        "Spec:",
        _field("Agent", (spec.get("agentRef") or {}).get("name", ""), 2),
        _field("Task", spec.get("task", ""), 2),
        _field("Mode", spec.get("mode", "task"), 2),
    ]  # fmt: skip
    for key in ("sessionKey", "timeout", "routing", "overrides", "parent"):
        if spec.get(key):
            value = spec[key]
            shown = (
                value
                if isinstance(value, str)
                else yaml.safe_dump(value, default_flow_style=True).strip()
            )
            lines.append(_field(key[0].upper() + key[1:], shown, 2))
    usage = st.get("tokenUsage") or {}
    lines += [
        "Status:",
        _field("Phase", st.get("phase", "") or "<none>", 2),
        _field("Step", f"{st.get('step', 0)} (stage {st.get('stage', '-')})", 2),
    ]
    for label, key in (("Started", "startedAt"), ("Completed", "completedAt")):
        if st.get(key):
            lines.append(_field(label, st[key], 2))
    if st.get("durationMs") is not None:
        lines.append(_field("Duration", f"{st['durationMs']} ms", 2))
    lines.append(_field("Tokens", f"{usage.get('total', 0)} (input {usage.get('input', 0)}, "
                        f"output {usage.get('output', 0)}, cache read {usage.get('cacheRead', 0)}, "
                        f"cache creation {usage.get('cacheCreation', 0)})", 2))  # fmt: skip
    if st.get("costEstimate"):
        lines.append(_field("Cost", f"${st['costEstimate']}", 2))
    lines.append(_field("Tool Calls", st.get("toolCalls", 0), 2))
    if st.get("awaitingApproval"):
        waiting = ", ".join(st["awaitingApproval"])
        lines.append(_field("Awaiting Approval", f"{waiting} (baton approve {meta['name']})", 2))
    if st.get("traceID"):
        lines.append(_field("Trace ID", st["traceID"], 2))
    if st.get("result"):
        lines.append(_field("Result", str(st["result"]).replace("\n", " ")[:500], 2))
    if st.get("error"):
        error = st["error"]
        lines.append(_field("Error", f"{error.get('reason', '')}: {error.get('message', '')}", 2))
    conditions = st.get("conditions") or []
    if conditions:
        rows: list[tuple[str, ...]] = [("Type", "Status", "Reason", "Age", "Message")]
        rows.append(tuple("-" * len(h) for h in rows[0]))
        rows += [
            (c.get("type", ""), c.get("status", ""), c.get("reason", ""),
             _ago(parse_time(c.get("lastTransitionTime")), now), c.get("message", ""))
            for c in conditions
        ]  # fmt: skip
        lines.append("Conditions:")
        lines += ["  " + line for line in format_rows(rows)]
    else:
        lines.append(_field("Conditions", "<none>"))
    if events is None:
        lines.append(_field("Events", "<unavailable>"))
    elif not events:
        lines.append(_field("Events", "<none>"))
    else:
        lines.append("Events:")
        lines += ["  " + line for line in format_rows(event_rows(events, now))]
    return lines
