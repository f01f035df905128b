"""``baton get|describe|logs|events``: looking at resources and runs, in the embedded store or
a cluster (see ``functions.cli.target``), with kubectl's habits."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from typing import Any

from functions.cli import follow
from functions.cli.output import FORMATS, format_rows, print_objects, rows_of
from functions.cli.target import (
    add_namespace_options,
    db_path,
    is_kubernetes,
    namespace_of,
    store_of,
)
from functions.ports import NotFound, Resource
from functions.run.status import is_terminal, parse_time

__all__ = ["KIND_ALIASES", "find_run", "kind_of", "parse_selector", "register"]

KIND_ALIASES = {
    **dict.fromkeys(("run", "runs", "agentrun", "agentruns", "ar"), "AgentRun"),
    **dict.fromkeys(("agent", "agents"), "Agent"),
    **dict.fromkeys(("model", "models"), "Model"),
    **dict.fromkeys(("mcpserver", "mcpservers", "mcp"), "MCPServer"),
    **dict.fromkeys(
        ("agenttrigger", "agenttriggers", "trigger", "triggers", "atr"), "AgentTrigger"
    ),
}
REQUESTED_BY = "baton.dev/requested-by"
REQUEST_TYPE = "baton.dev/request-type"


def kind_of(word: str) -> str:
    """The kind a word names (``runs``, ``agentrun.baton.dev``, ...), or exit saying which exist."""
    try:
        return KIND_ALIASES[word.lower().removesuffix(".baton.dev")]
    except KeyError:
        raise SystemExit(
            f"baton: unknown resource type {word!r} "
            "(try runs, agents, models, mcpservers, triggers)"
        ) from None


def parse_selector(text: str | None) -> dict[str, str] | None:
    """``-l a=b,c=d`` as a mapping (equality only, as the stores match labels)."""
    if not text:
        return None
    selector: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("==" if "==" in part else "=")
        if not sep or not key.strip() or "!" in key:
            raise SystemExit(
                f"baton: unsupported label selector {part!r}: use key=value[,key=value]"
            )
        selector[key.strip()] = value.strip()
    return selector


def find_run(args: argparse.Namespace) -> Resource | None:
    """The run ``args.name`` names, or None after saying it is not there."""
    namespace = namespace_of(args) or "default"
    try:
        return store_of(args).get("AgentRun", namespace, args.name)
    except NotFound:
        print(f"baton: agentrun {namespace}/{args.name} not found", file=sys.stderr)
        return None


def _matches(obj: Resource, selector: Mapping[str, str] | None) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def cmd_get(args: argparse.Namespace) -> int:
    """List resources (``-w``: then every change), or print one."""
    store, kind, namespace = store_of(args), kind_of(args.kind), namespace_of(args)
    selector = parse_selector(args.selector)
    if args.name:
        try:
            obj = store.get(kind, namespace or "default", args.name)
        except NotFound:
            print(f"baton: {kind} {namespace}/{args.name} not found", file=sys.stderr)
            return 1
        print_objects(kind, [obj], args.output, single=True)
        return 0
    stream = store.watch(kind, namespace, timeout=args.watch_timeout) if args.watch else None
    objs = store.list(kind, namespace, selector)
    if objs or args.output not in ("table", "wide"):
        print_objects(kind, objs, args.output, namespaces=namespace is None)
    elif not args.watch:
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        print(f"No resources found in {where}.", file=sys.stderr)
    if stream is None:
        return 0
    header = not objs
    for change in stream:
        if not _matches(change.object, selector):
            continue
        if args.output in ("table", "wide"):
            rows = rows_of(kind, [change.object], wide=args.output == "wide")
            if namespace is None:
                rows = [
                    ("NAMESPACE", *rows[0]),
                    (change.object["metadata"].get("namespace", ""), *rows[1]),
                ]
            lines = format_rows(rows)
            print("\n".join(lines if header else lines[1:]), flush=True)
            header = False
        else:
            print_objects(kind, [change.object], args.output, single=True)
            sys.stdout.flush()
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    """A run (or another resource) in full, with its Events."""
    from functions.cli.describe import describe

    kind = kind_of(args.kind)
    if kind != "AgentRun":
        try:
            obj = store_of(args).get(kind, namespace_of(args) or "default", args.name)
        except NotFound:
            print(f"baton: {kind} {args.name} not found", file=sys.stderr)
            return 1
        print_objects(kind, [obj], "yaml", single=True)
        return 0
    run = find_run(args)
    if run is None:
        return 1
    print("\n".join(describe(run, _run_events(args, run))))
    return 0


def _run_events(args: argparse.Namespace, run: Resource) -> Any:
    from functions.observe.wiring import event_backend_for

    backend = event_backend_for(store_of(args))
    if backend is None:
        return None
    meta = run["metadata"]
    return backend.read(meta.get("namespace", "default"), meta["name"], meta.get("uid", ""))


def cmd_logs(args: argparse.Namespace) -> int:
    """The run's transcript from its journal; ``-f`` follows it until the run ends."""
    run = find_run(args)
    if run is None:
        return 1
    store, shown = store_of(args), 0
    while True:
        entries = store.read_journal(run)
        follow.print_transcript(entries[shown:])
        sys.stdout.flush()
        shown = len(entries)
        if not args.follow or is_terminal(run):
            if args.follow and len(store.read_journal(run)) > shown:
                continue  # the last entries landed with the terminal phase
            return 0
        time.sleep(0.2)
        try:
            run = store.get("AgentRun", run["metadata"]["namespace"], run["metadata"]["name"])
        except NotFound:
            return 0


def _rfc3339(ts: float | None) -> str:
    """Epoch seconds as a Kubernetes timestamp with milliseconds ("" when unknown)."""
    if ts is None:
        return ""
    from datetime import UTC, datetime

    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _request_of(run: Resource) -> dict[str, Any]:
    """The request that created the run, from what route noted on it."""
    meta = run["metadata"]
    notes = meta.get("annotations") or {}
    source, _, event_id = str(notes.get(REQUESTED_BY, "")).rpartition("#")
    return {
        "time": meta.get("creationTimestamp", ""),
        "type": notes.get(REQUEST_TYPE) or ("request" if source else "created"),
        "id": event_id or meta["name"],
        "source": source or "the API (apply)",
        "step": None,
        "detail": f"created agentrun/{meta['name']}",
    }


def cmd_events(args: argparse.Namespace) -> int:
    """The run's history with times: the request, then its chain of CloudEvents (embedded) or
    its Kubernetes Events (a cluster keeps no CloudEvents log)."""
    run = find_run(args)
    if run is None:
        return 1
    rows = [_request_of(run)]
    if is_kubernetes(args):
        from datetime import UTC, datetime

        for e in _run_events(args, run) or []:
            when = datetime.fromtimestamp(e.last, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            rows.append(
                {"time": when, "type": e.reason, "id": "", "source": e.component, "step": None,
                 "detail": e.message, "count": e.count, "eventType": e.type}
            )  # fmt: skip
    else:
        from functions.runtime.eventlog import EventLog

        log = EventLog(db_path(args))
        meta = run["metadata"]
        key = f"{meta.get('namespace', 'default')}/{meta['name']}"
        for ev in log.read(key, uid=meta.get("uid") or None):
            rows.append(
                {"time": _rfc3339(ev.time), "type": ev.type, "id": ev.id, "source": ev.source,
                 "step": ev.step, "detail": ev.detail}
            )  # fmt: skip
        log.close()
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return 0
    created = parse_time(run["metadata"].get("creationTimestamp")) or 0.0
    # creationTimestamp has whole seconds: the first event of that second (the watch's add,
    # sent as the run was created) is the sharper start, so +MS is not off by up to 999.
    stamps = [t for t in (parse_time(r["time"]) for r in rows[1:] if r["time"]) if t is not None]
    if stamps and created <= min(stamps) < created + 1:
        created = min(stamps)
    table: list[tuple[str, ...]] = [("TIME", "+MS", "STEP", "TYPE", "DETAIL", "ID")]
    for row in rows:
        at = parse_time(row["time"]) if row["time"] else None
        offset = f"{max(0.0, at - created) * 1000:.0f}" if at is not None else ""
        step = "-" if row["step"] is None else str(row["step"])
        detail = row["detail"] + (f" (x{row['count']})" if row.get("count", 1) > 1 else "")
        kind = follow.short_type(row["type"])
        table.append((row["time"] or "-", offset, step, kind, detail, row["id"]))
    print("\n".join(format_rows(table)))
    return 0


def register(sub: Any) -> None:
    """Add get, describe, logs and events to the CLI."""
    p = sub.add_parser("get", help="list resources or show one (kubectl get)")
    p.add_argument("kind", help="runs, agents, models, mcpservers or triggers")
    p.add_argument("name", nargs="?", help="one of them (default: all)")
    p.add_argument("-o", "--output", choices=FORMATS, default="table")
    p.add_argument("-l", "--selector", help="label selector: key=value[,key=value]")
    p.add_argument("-w", "--watch", action="store_true", help="after listing, print every change")
    p.add_argument("--watch-timeout", type=float, help=argparse.SUPPRESS)
    add_namespace_options(p, all_namespaces=True)
    p.set_defaults(func=cmd_get)
    p = sub.add_parser("describe", help="show a run in full, with its Events (kubectl describe)")
    p.add_argument("kind", help="run (or agent, model, mcpserver)")
    p.add_argument("name", help="the resource")
    add_namespace_options(p)
    p.set_defaults(func=cmd_describe)
    p = sub.add_parser("logs", help="print a run's transcript (-f: follow it)")
    p.add_argument("name", help="the AgentRun")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    add_namespace_options(p)
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser("events", help="a run's history with times, from the request on")
    p.add_argument("name", help="the AgentRun")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    add_namespace_options(p)
    p.set_defaults(func=cmd_events)
