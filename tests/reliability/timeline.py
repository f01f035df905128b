"""What happened to one chaos run, in time order: to read why a run ended late.

    print(timeline(fleet, name, accepted_at, executions, calls, kills))

Each line is seconds after the request was accepted: the run's recorded events (the event
log beside the store), its model calls and tool executions (seen from outside baton), the
kills while it was in flight, and the worker log lines that name it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from functions.ports import NotFound, Store
from functions.run.status import parse_time
from tests.reliability.chaos_world import NAMESPACE
from tests.reliability.invariants import Kill, ModelCall

__all__ = ["timeline"]


def _events(db: str, uid: str) -> list[tuple[float, str]]:
    query = "SELECT time, type, id, source FROM run_events WHERE uid = ? ORDER BY seq"
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            rows = conn.execute(query, (uid,)).fetchall()
    except sqlite3.OperationalError:  # no event log in this shape (HTTP functions keep none)
        return []
    return [(float(t or 0), f"event {typ} id={id_} from {src}") for t, typ, id_, src in rows]


def _log_lines(logs: Path, needles: Sequence[str]) -> list[tuple[float, str]]:
    """Worker log lines naming the run, when they start with an epoch time (procs' format)."""
    out = []
    for path in sorted(logs.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if not any(n in line for n in needles):
                continue
            head, _, rest = line.partition(" ")
            try:
                at = float(head)
            except ValueError:
                continue
            out.append((at, f"log {path.stem}: {rest[:220]}"))
    return out


def timeline(
    store: Store,
    db: str,
    logs: Path,
    name: str,
    accepted_at: float,
    executions: Sequence[Mapping[str, Any]],
    model_calls: Sequence[ModelCall],
    kills: Sequence[Kill],
) -> str:
    """Run ``name``'s story, one line per thing that happened, relative to acceptance."""
    try:
        run = store.get("AgentRun", NAMESPACE, name)
    except NotFound:
        return f"{name}: no AgentRun"
    uid = run["metadata"]["uid"]
    status = run.get("status") or {}
    done = parse_time(status.get("completedAt")) or accepted_at + 120
    lines: list[tuple[float, str]] = [(accepted_at, "accepted")]
    created = parse_time(run["metadata"].get("creationTimestamp"))
    if created:
        lines.append((created, "AgentRun created"))
    for field in ("startedAt", "completedAt", "lastEventTime"):
        at = parse_time(status.get(field))
        if at:
            lines.append((at, f"status.{field}"))
    lines += _events(db, uid)
    lines += [(c.at, f"model call {c.key} by pid {c.pid}") for c in model_calls if uid in c.key]
    lines += [
        (float(e["time"]), f"tool effect {e.get('idempotencyKey')} by ppid {e.get('ppid')}")
        for e in executions
        if uid in str(e.get("idempotencyKey"))
    ]
    lines += [
        (k.at, f"KILL {k.victim} pids {sorted(k.pids)}")
        for k in kills
        if accepted_at - 10 <= k.at <= done
    ]
    lines += _log_lines(logs, (uid, name))
    lines.sort(key=lambda item: item[0])
    head = f"{name} uid={uid} phase={status.get('phase')} stage={status.get('stage')}"
    body = "\n".join(f"  {at - accepted_at:+8.2f} s  {what}" for at, what in lines)
    return f"{head}\n{body}"
