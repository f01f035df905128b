"""Printing resources as kubectl does: tables (``-o wide``, a NAMESPACE column with ``-A``),
``-o json|yaml`` (a ``List`` for several), ``-o name``."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, Final

import yaml

from functions.ports import Resource
from functions.run.status import parse_time

__all__ = ["FORMATS", "age", "print_objects", "rows_of", "short_age", "short_duration"]

FORMATS: Final = ("table", "wide", "json", "yaml", "name")
_PLURAL: Final = {
    "AgentRun": "agentrun",
    "Agent": "agent",
    "Model": "model",
    "MCPServer": "mcpserver",
}


def short_age(seconds: float) -> str:
    """kubectl's age: 42s, 5m, 3h, 2d."""
    secs = max(int(seconds), 0)
    if secs < 120:
        return f"{secs}s"
    if secs < 7200:
        return f"{secs // 60}m"
    if secs < 172800:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


def short_duration(ms: float) -> str:
    """A run's duration: 11ms, 23.2s, then kubectl's units (5m, 3h)."""
    if ms < 1000:
        return f"{int(ms)}ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f}s"
    return short_age(ms / 1000)


def age(obj: Resource) -> str:
    """The object's age from its creationTimestamp."""
    created = parse_time(obj["metadata"].get("creationTimestamp"))
    return "-" if created is None else short_age(time.time() - created)


def _since(stamp: Any) -> str:
    """How long ago ``stamp`` was, as kubectl shows a date column ("" when never)."""
    at = parse_time(stamp) if stamp else None
    return "" if at is None else short_age(time.time() - at)


def _status(o: Resource) -> dict[str, Any]:
    return o.get("status") or {}


def _reason(o: Resource) -> str:
    """The run's error reason; else the last false condition, named (Delivered:NotConfigured).

    Named, because a Succeeded run whose answer could not be posted is not a failed run.
    """
    st = _status(o)
    if st.get("error"):
        return str(st["error"].get("reason", ""))
    waiting = [c for c in st.get("conditions") or [] if c.get("status") == "False"]
    if not waiting:
        return ""
    last = waiting[-1]
    return f"{last.get('type', '')}:{last.get('reason', '')}"


def rows_of(kind: str, objs: Sequence[Resource], *, wide: bool = False) -> list[tuple[str, ...]]:
    """The header and one row per object."""
    if kind == "AgentRun":
        head: tuple[str, ...] = ("NAME", "PHASE", "AGENT", "STEP", "TOKENS", "AGE")
        if wide:
            head += ("COST", "TOOLS", "DURATION", "REASON", "TRACE")
        rows = [head]
        for o in objs:
            st = _status(o)
            row: tuple[str, ...] = (
                o["metadata"]["name"],
                str(st.get("phase", "")),
                o["spec"]["agentRef"]["name"],
                str(st.get("step", "")),
                str((st.get("tokenUsage") or {}).get("total", "")),
                age(o),
            )
            if wide:
                duration = st.get("durationMs")
                row += (
                    f"${st['costEstimate']}" if st.get("costEstimate") else "",
                    str(st.get("toolCalls", "")),
                    short_duration(duration) if duration is not None else "",
                    _reason(o),
                    str(st.get("traceID", "")),
                )
            rows.append(row)
        return rows
    if kind == "Model":
        head = ("NAME", "PROVIDER", "MODEL", "AGE") + (("BASEURL",) if wide else ())
        return [head] + [
            (o["metadata"]["name"], o["spec"].get("provider", ""), o["spec"].get("model", ""),
             age(o)) + ((o["spec"].get("baseURL", ""),) if wide else ())
            for o in objs
        ]  # fmt: skip
    if kind == "Agent":
        head = ("NAME", "MODEL", "TOOLS", "AGE") + (("POLICY",) if wide else ())
        rows = [head]
        for o in objs:
            spec = o["spec"]
            row = (o["metadata"]["name"], spec["modelRef"]["name"],
                   str(len(spec.get("tools") or [])), age(o))  # fmt: skip
            if wide:
                policy = spec.get("toolPolicy") or {}
                row += (",".join(f"{k}={'|'.join(v)}" for k, v in policy.items() if v),)
            rows.append(row)
        return rows
    if kind == "AgentTrigger":
        rows = [("NAME", "AGENT", "READY", "REASON", "RUNS", "LAST FIRED", "AGE")]
        for o in objs:
            st = _status(o)
            conds = st.get("conditions") or []
            ready: dict[str, Any] = next((c for c in conds if c.get("type") == "Ready"), {})
            rows.append(
                (o["metadata"]["name"], o["spec"]["agentRef"]["name"],
                 str(ready.get("status", "")), str(ready.get("reason", "")),
                 str(st.get("runsStarted", 0)), _since(st.get("lastFired")), age(o))
            )  # fmt: skip
        return rows
    head = ("NAME", "TRANSPORT", "AGE") + (("TARGET",) if wide else ())
    return [head] + [
        (o["metadata"]["name"], o["spec"].get("transport", ""), age(o))
        + ((o["spec"].get("url") or o["spec"].get("command") or "",) if wide else ())
        for o in objs
    ]


def format_rows(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Rows as aligned lines, three spaces between columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def print_objects(
    kind: str,
    objs: Sequence[Resource],
    output: str = "table",
    *,
    namespaces: bool = False,
    single: bool = False,
    header: bool = True,
) -> None:
    """Print ``objs`` in ``output`` format; ``single``: one object asked for by name."""
    if output == "name":
        for o in objs:
            print(f"{_PLURAL.get(kind, kind.lower())}.baton.dev/{o['metadata']['name']}")
        return
    if output in ("json", "yaml"):
        doc: Any = objs[0] if single and objs else {
            "apiVersion": "v1", "kind": "List", "items": list(objs), "metadata": {},
        }  # fmt: skip
        if output == "json":
            print(json.dumps(doc, indent=2))
        else:
            print(yaml.safe_dump(doc, sort_keys=False), end="")
        return
    rows = rows_of(kind, objs, wide=output == "wide")
    if namespaces:
        spaces = ["NAMESPACE"] + [o["metadata"].get("namespace", "") for o in objs]
        rows = [(ns, *row) for ns, row in zip(spaces, rows, strict=True)]
    lines = format_rows(rows)
    for line in lines if header else lines[1:]:
        print(line)
