"""Showing runs to a person: live transitions, tables, transcripts."""

from __future__ import annotations

import json
import time
from typing import Any

from functions.chain import ROUTES
from functions.ports import Resource, Store
from functions.run.status import is_terminal, parse_time
from functions.runtime.eventlog import EventLog, LoggedEvent

__all__ = ["follow", "print_table", "print_transcript"]

_SHORT = {
    "dev.knative.apiserver.resource.add": "resource.add",
    "dev.knative.apiserver.ref.add": "ref.add",
}


def _short(type_: str) -> str:
    return _SHORT.get(type_, type_.removeprefix("dev.baton."))


# Which function takes each type (the chain's routing), to say where an event goes.
_TAKEN_BY = {r.filter["type"]: r.function for r in ROUTES}


def _line(run: Resource, ev: LoggedEvent, started: float) -> str:
    step = "-" if ev.step is None else str(ev.step)
    to = _TAKEN_BY.get(ev.type, "-")
    return (
        f"{(time.monotonic() - started) * 1000:8.1f} ms  {run['metadata']['name']:<16} "
        f"step {step:>2}  {_short(ev.type):<18} -> {to:<16} {ev.detail}"
    ).rstrip()


def follow(store: Store, log: EventLog, runs: list[Resource], *, timeout: float) -> int:
    """Print each run's events as they happen, then its answer; 0 if all Succeeded."""
    started = time.monotonic()
    cursors = {id(r): 0 for r in runs}
    done: dict[int, Resource] = {}
    while len(done) < len(runs) and time.monotonic() - started < timeout:
        for run in runs:
            key = f"{run['metadata']['namespace']}/{run['metadata']['name']}"
            for ev in log.read(key, cursors[id(run)], uid=run["metadata"].get("uid")):
                cursors[id(run)] = ev.seq
                print(_line(run, ev, started), flush=True)
            if id(run) not in done:
                current = store.get(
                    "AgentRun", run["metadata"]["namespace"], run["metadata"]["name"]
                )
                if is_terminal(current):
                    done[id(run)] = current
        time.sleep(0.01)
    time.sleep(0.05)
    for run in runs:  # the last events (run.finished) may land just after the phase
        key = f"{run['metadata']['namespace']}/{run['metadata']['name']}"
        for ev in log.read(key, cursors[id(run)], uid=run["metadata"].get("uid")):
            print(_line(run, ev, started), flush=True)
    ok = True
    for run in runs:
        final = done.get(id(run))
        name = run["metadata"]["name"]
        if final is None:
            print(f"\n{name}: still not finished after {timeout:g}s")
            ok = False
            continue
        st = final["status"]
        usage = st.get("tokenUsage") or {}
        print(
            f"\n{name}: {st['phase']} in {st.get('durationMs', 0)} ms, "
            f"{st.get('step', 0)} model turns, {st.get('toolCalls', 0)} tool calls, "
            f"{usage.get('total', 0)} tokens (in {usage.get('input', 0)}, "
            f"out {usage.get('output', 0)}), cost ${st.get('costEstimate', '0')}"
        )
        if st["phase"] == "Succeeded":
            print(f"answer: {st.get('result', '')}")
        else:
            err = st.get("error") or {}
            print(f"error: {err.get('reason', '')}: {err.get('message', '')}")
            ok = False
    return 0 if ok else 1


def _age(obj: Resource) -> str:
    created = parse_time(obj["metadata"].get("creationTimestamp"))
    if created is None:
        return "-"
    secs = int(time.time() - created)
    return f"{secs}s" if secs < 120 else f"{secs // 60}m" if secs < 7200 else f"{secs // 3600}h"


def print_table(kind: str, objs: list[Resource]) -> None:
    """A kubectl-like table of resources."""
    if kind == "AgentRun":
        rows: list[tuple[str, ...]] = [("NAME", "PHASE", "AGENT", "STEP", "TOKENS", "AGE")]
        rows += [
            (
                o["metadata"]["name"],
                (o.get("status") or {}).get("phase", ""),
                o["spec"]["agentRef"]["name"],
                str((o.get("status") or {}).get("step", "")),
                str(((o.get("status") or {}).get("tokenUsage") or {}).get("total", "")),
                _age(o),
            )
            for o in objs
        ]
    elif kind == "Model":
        rows = [("NAME", "PROVIDER", "MODEL", "AGE")]
        rows += [
            (
                o["metadata"]["name"],
                o["spec"].get("provider", ""),
                o["spec"].get("model", ""),
                _age(o),
            )
            for o in objs
        ]
    elif kind == "Agent":
        rows = [("NAME", "MODEL", "TOOLS", "AGE")]
        rows += [
            (
                o["metadata"]["name"],
                o["spec"]["modelRef"]["name"],
                str(len(o["spec"].get("tools") or [])),
                _age(o),
            )
            for o in objs
        ]
    elif kind == "AgentTrigger":
        rows = [("NAME", "AGENT", "READY", "REASON", "RUNS", "LAST FIRED", "AGE")]
        for o in objs:
            status = o.get("status") or {}
            conditions = status.get("conditions") or []
            ready: dict[str, Any] = next((c for c in conditions if c["type"] == "Ready"), {})
            rows.append(
                (
                    o["metadata"]["name"],
                    o["spec"]["agentRef"]["name"],
                    str(ready.get("status", "")),
                    str(ready.get("reason", "")),
                    str(status.get("runsStarted", 0)),
                    str(status.get("lastFired", "")),
                    _age(o),
                )
            )
    else:
        rows = [("NAME", "TRANSPORT", "AGE")]
        rows += [(o["metadata"]["name"], o["spec"].get("transport", ""), _age(o)) for o in objs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _blocks(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out = []
    for block in content or []:
        kind = block.get("type")
        if kind == "text":
            out.append(block.get("text", ""))
        elif kind == "tool_use":
            out.append(f"[tool_use {block.get('name')} {json.dumps(block.get('input'))}]")
        elif kind == "thinking":
            out.append("[thinking]")
    return out


def print_transcript(entries: list[tuple[str, dict[str, Any]]]) -> None:
    """The journal as a readable conversation."""
    for key, entry in entries:
        if key == "context":
            print(f"system: {entry.get('system', '')}")
            tools = ", ".join(t["name"] for t in entry.get("tools", []))
            print(f"tools: {tools or '(none)'}")
            for message in entry.get("messages", []):
                print(f"{message['role']}: {' '.join(_blocks(message['content']))}")
        elif key.startswith("user/"):
            print(f"user ({key}, input {entry.get('input')}): {entry.get('content', '')}")
        elif key.startswith("reply/"):
            usage = entry.get("usage") or {}
            print(
                f"assistant ({key}, {usage.get('input', 0)} in / {usage.get('output', 0)} out, "
                f"stop {entry.get('stop_reason')}): {' '.join(_blocks(entry.get('content')))}"
            )
        elif key.startswith("tool/"):
            flag = " (error)" if entry.get("is_error") else ""
            print(f"tool {entry.get('name')}{flag}: {entry.get('content')}")
