"""Showing runs to a person: live transitions, tables, transcripts."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from functions.chain import ROUTES
from functions.ports import Resource, Store
from functions.run.status import is_terminal
from functions.runtime.eventlog import EventLog, LoggedEvent

__all__ = [
    "approval_note",
    "follow",
    "pending_note",
    "print_table",
    "print_transcript",
    "short_type",
    "summarize",
]

_SHORT = {
    "dev.knative.apiserver.resource.add": "resource.add",
    "dev.knative.apiserver.ref.add": "ref.add",
}


def short_type(type_: str) -> str:
    """An event type without its common prefix (``run.accepted``, ``resource.add``)."""
    return _SHORT.get(type_, type_.removeprefix("dev.baton."))


# Which function takes each type (the chain's routing), to say where an event goes.
_TAKEN_BY = {
    r.filter["type"]: r.function for r in ROUTES if r.filter.get("kind", "AgentRun") == "AgentRun"
}


def _line(run: Resource, ev: LoggedEvent, origin: float) -> str:
    """One event, at its own time since ``origin`` (epoch s), not at the time it is printed."""
    step = "-" if ev.step is None else str(ev.step)
    to = _TAKEN_BY.get(ev.type, "(record)")  # tool.completed: no function takes it
    made = ev.time if ev.time is not None else time.time()
    return (
        f"{max(0.0, made - origin) * 1000:8.1f} ms  {run['metadata']['name']:<16} "
        f"step {step:>2}  {short_type(ev.type):<18} -> {to:<16} {ev.detail}"
    ).rstrip()


def _uid(run: Resource) -> str | None:
    uid = run["metadata"].get("uid")
    return str(uid) if uid else None


def approval_note(run: Resource) -> str | None:
    """What to tell a person when ``run`` waits for an approval, else None."""
    from functions.run.steering import APPROVE, CANCEL, REJECT

    st = run.get("status") or {}
    if st.get("phase") != "AwaitingApproval":
        return None
    # Decided or cancelled already (sweep has yet to take it up): nothing to ask for.
    notes = run["metadata"].get("annotations") or {}
    decided = {c for key in (APPROVE, REJECT) for c in str(notes.get(key, "")).split(",") if c}
    if CANCEL in notes or not set(st.get("awaitingApproval") or []) - decided:
        return None
    name = run["metadata"]["name"]
    asked = next(
        (
            c.get("message", "")
            for c in st.get("conditions") or []
            if c.get("type") == "ToolApproved"
        ),
        "",
    )
    calls = ", ".join(st.get("awaitingApproval") or [])
    return (
        f"{name}: waits for approval: {asked or calls}\n"
        f"  approve: baton approve {name}    reject: baton approve {name} --reject"
    )


def pending_note(run: Resource) -> str | None:
    """Why ``run`` is Pending on a reference, and what a person can do; else None."""
    st = run.get("status") or {}
    if st.get("phase") != "Pending":
        return None
    refused = next(
        (
            c
            for c in st.get("conditions") or []
            if c.get("type") == "Accepted" and c.get("status") == "False"
        ),
        None,
    )
    if refused is None:
        return None
    name = run["metadata"]["name"]
    return (
        f"{name}: Pending: {refused.get('reason', '')}: {refused.get('message', '')}\n"
        f"  it waits until its timeout: apply what is missing, or baton cancel {name}"
    )


def follow(
    store: Store,
    log: EventLog | None,
    runs: list[Resource],
    *,
    timeout: float,
    since: Mapping[str, int] | None = None,
) -> int:
    """Print each run's events as they happen, then its answer; 0 if all Succeeded.

    ``log`` is the CloudEvents log (embedded and NATS shapes); without one (a cluster) the
    run's phase changes are printed. ``since`` skips events already shown (by run key).
    """
    started = time.monotonic()
    now = time.time()  # events carry wall-clock times
    # A run already under way (followed again) counts from its first event, not from now.
    origins: dict[int, float] = {}

    def line(run: Resource, ev: LoggedEvent) -> str:
        origin = origins.setdefault(id(run), min(now, ev.time if ev.time is not None else now))
        return _line(run, ev, origin)

    keys = {id(r): f"{r['metadata']['namespace']}/{r['metadata']['name']}" for r in runs}
    cursors = {id(r): (since or {}).get(keys[id(r)], 0) for r in runs}
    phases: dict[int, str] = {}
    noted: set[tuple[int, str]] = set()
    done: dict[int, Resource] = {}
    while len(done) < len(runs) and time.monotonic() - started < timeout:
        for run in runs:
            if log is not None:
                for ev in log.read(keys[id(run)], cursors[id(run)], uid=_uid(run)):
                    cursors[id(run)] = ev.seq
                    print(line(run, ev), flush=True)
            if id(run) in done:
                continue
            current = store.get("AgentRun", run["metadata"]["namespace"], run["metadata"]["name"])
            phase = str((current.get("status") or {}).get("phase") or "")
            if log is None and phase != phases.get(id(run), ""):
                elapsed = (time.monotonic() - started) * 1000
                print(f"{elapsed:8.1f} ms  {run['metadata']['name']:<16} {phase}", flush=True)
            phases[id(run)] = phase
            note = approval_note(current)
            waiting = ",".join((current.get("status") or {}).get("awaitingApproval") or [])
            if note and (id(run), waiting) not in noted:
                noted.add((id(run), waiting))
                print(note, flush=True)
            pending = pending_note(current)
            if pending and (id(run), pending) not in noted:
                noted.add((id(run), pending))
                print(pending, flush=True)
            if is_terminal(current) or _awaits_input(current):
                done[id(run)] = current
        time.sleep(0.01 if log is not None else 0.2)
    time.sleep(0.05)
    for run in runs:  # the last events (run.finished) may land just after the phase
        for ev in log.read(keys[id(run)], cursors[id(run)], uid=_uid(run)) if log else ():
            print(line(run, ev), flush=True)
    return summarize(runs, done, timeout)


def _awaits_input(run: Resource) -> bool:
    """A session (server mode) that has answered and waits for its next input."""
    st = run.get("status") or {}
    return st.get("phase") == "Serving" and st.get("stage") == "Input"


def summarize(runs: list[Resource], done: Mapping[int, Resource], timeout: float) -> int:
    """Each run's outcome and answer; 0 if every run Succeeded (or, a session, Serving)."""
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
        turns, calls = st.get("step", 0), st.get("toolCalls", 0)
        took = f" in {st['durationMs']} ms" if "durationMs" in st else ""  # a session: not yet
        print(
            f"\n{name}: {st['phase']}{took}, "
            f"{turns} model turn{'' if turns == 1 else 's'}, "
            f"{calls} tool call{'' if calls == 1 else 's'}, "
            f"{usage.get('total', 0)} tokens (in {usage.get('input', 0)}, "
            f"out {usage.get('output', 0)}), cost ${st.get('costEstimate', '0')}"
        )
        if st["phase"] == "Succeeded":
            print(f"answer: {st.get('result', '')}")
        elif st["phase"] == "Serving":
            if st.get("result"):
                print(f"answer: {st['result']}")
            print(f'{name}: Serving: send it more with baton send {name} "..." --wait')
        else:
            err = st.get("error") or {}
            print(f"error: {err.get('reason', '')}: {err.get('message', '')}")
            ok = False
    return 0 if ok else 1


def print_table(kind: str, objs: list[Resource]) -> None:
    """A kubectl-like table of resources."""
    from functions.cli.output import print_objects

    print_objects(kind, objs)


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
            if entry.get("system"):
                print(f"system: {entry['system']}")
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
