"""``baton run|apply|get|logs|events|delete|approve|cancel`` on the embedded store."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import yaml

from functions.cli import follow
from functions.cli.manifests import ManifestError, apply, load_files
from functions.ports import Invalid, NotFound, Resource
from functions.run.status import is_terminal

__all__ = ["register"]

KIND_ALIASES = {
    "run": "AgentRun",
    "runs": "AgentRun",
    "agentrun": "AgentRun",
    "agentruns": "AgentRun",
    "ar": "AgentRun",
    "agent": "Agent",
    "agents": "Agent",
    "model": "Model",
    "models": "Model",
    "mcpserver": "MCPServer",
    "mcpservers": "MCPServer",
    "agenttrigger": "AgentTrigger",
    "agenttriggers": "AgentTrigger",
    "triggers": "AgentTrigger",
    "atr": "AgentTrigger",
}


def _store(args: argparse.Namespace) -> Any:
    from functions.resources.sqlite import SqliteStore

    return SqliteStore(args.db)


def _kind(word: str) -> str:
    try:
        return KIND_ALIASES[word.lower()]
    except KeyError:
        raise SystemExit(
            f"baton: unknown resource type {word!r} "
            "(try runs, agents, models, mcpservers, triggers)"
        ) from None


def cmd_run(args: argparse.Namespace) -> int:
    """Apply the files, run the embedded runtime, follow every AgentRun to the end."""
    from functions.models import has_api_key
    from functions.models.keys import default_key_env
    from functions.runtime.embedded import Embedded

    try:
        docs = load_files(args.files)
    except ManifestError as exc:
        print(f"baton: {exc}", file=sys.stderr)
        return 2
    for model in (d for d in docs if d["kind"] == "Model"):
        spec = model.get("spec") or {}
        keyed = spec.get("provider") in ("anthropic", "openai")
        if keyed and not has_api_key(model) and spec.get("script"):
            print(
                f"note: {default_key_env(model)} is not set: Model "
                f"{model['metadata']['name']} uses its offline scripted replies"
            )
    if args.nats:
        from functions.cli.workers import run_via_nats

        return run_via_nats(args, docs)
    with Embedded(args.db, offline_fallback=True) as runtime:
        try:
            applied = apply(runtime.store, docs, rerun=True)
        except Invalid as exc:
            print(f"baton: {exc}", file=sys.stderr)
            return 2
        for item in applied:
            print(item)
        runs = [a.obj for a in applied if a.obj["kind"] == "AgentRun"]
        assert runtime.events is not None
        return follow.follow(runtime.store, runtime.events, runs, timeout=args.timeout)


def cmd_apply(args: argparse.Namespace) -> int:
    """Create or update resources without running anything."""
    try:
        for item in apply(_store(args), load_files(args.files)):
            print(item)
    except (ManifestError, Invalid) as exc:
        print(f"baton: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    """List resources, or print one in full."""
    store, kind = _store(args), _kind(args.kind)
    if args.name:
        try:
            obj = store.get(kind, args.namespace, args.name)
        except NotFound:
            print(f"baton: {kind} {args.namespace}/{args.name} not found", file=sys.stderr)
            return 1
        if args.output == "json":
            print(json.dumps(obj, indent=2))
        elif args.output == "yaml":
            print(yaml.safe_dump(obj, sort_keys=False), end="")
        else:
            follow.print_table(kind, [obj])
        return 0
    follow.print_table(kind, store.list(kind, args.namespace))
    return 0


def _run(args: argparse.Namespace) -> tuple[Any, Resource] | None:
    store = _store(args)
    try:
        return store, store.get("AgentRun", args.namespace, args.name)
    except NotFound:
        print(f"baton: agentrun {args.namespace}/{args.name} not found", file=sys.stderr)
        return None


def cmd_logs(args: argparse.Namespace) -> int:
    """Print the run's transcript from its journal."""
    found = _run(args)
    if found is None:
        return 1
    store, run = found
    follow.print_transcript(store.read_journal(run))
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """Print the run's chain of CloudEvents in order."""
    from functions.runtime.eventlog import EventLog

    found = _run(args)
    if found is None:
        return 1
    uid = found[1]["metadata"].get("uid", "")
    for ev in EventLog(args.db).read(f"{args.namespace}/{args.name}", uid=uid):
        print(f"{ev.seq:>6}  {ev.type:<40} {ev.id}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete one resource (a run's journal goes with it)."""
    store, kind = _store(args), _kind(args.kind)
    try:
        store.delete(kind, args.namespace, args.name)
    except NotFound:
        print(f"baton: {kind} {args.namespace}/{args.name} not found", file=sys.stderr)
        return 1
    print(f"{kind.lower()}/{args.name} deleted")
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    """Wait until a run is finished; exit 0 only if it Succeeded."""
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        found = _run(args)
        if found is None:
            return 1
        if is_terminal(found[1]):
            print(found[1]["status"]["phase"])
            return 0 if found[1]["status"]["phase"] == "Succeeded" else 1
        time.sleep(0.1)
    print("baton: timed out", file=sys.stderr)
    return 1


def cmd_cancel(args: argparse.Namespace) -> int:
    """Ask for a run to be cancelled (taken up by the next sweep)."""
    from functions.run import steering

    try:
        steering.cancel(_store(args), args.namespace, args.name, args.by)
    except NotFound:
        print(f"baton: agentrun {args.namespace}/{args.name} not found", file=sys.stderr)
        return 1
    except steering.RunKeptChanging as exc:
        print(f"baton: {exc}", file=sys.stderr)
        return 1
    print(f"agentrun/{args.name} cancellation requested")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    """Approve (or --reject) tool calls a run waits on; all of them when none are named."""
    from functions.run import steering

    found = _run(args)
    if found is None:
        return 1
    store, run = found
    try:
        _, calls = steering.decide(store, run, args.calls, reject=args.reject, by=args.by)
    except NotFound:
        print(f"baton: agentrun {args.namespace}/{args.name} not found", file=sys.stderr)
        return 1
    except (steering.NothingToDecide, steering.RunKeptChanging) as exc:
        print(f"baton: {exc}", file=sys.stderr)
        return 1
    print(f"agentrun/{args.name}: {'rejected' if args.reject else 'approved'} {', '.join(calls)}")
    return 0


def register(sub: Any) -> None:
    """Add the run commands to the CLI."""

    def ns(p: argparse.ArgumentParser) -> None:
        p.add_argument("-n", "--namespace", default="default")

    p = sub.add_parser("run", help="apply files and follow their AgentRuns to the end")
    p.add_argument("files", nargs="+")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the runs")
    p.add_argument("--nats", metavar="URL", help="submit through a NATS deployment (baton up)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("apply", help="create or update resources from files")
    p.add_argument("-f", "--filename", dest="files", action="append", required=True)
    p.set_defaults(func=cmd_apply)
    p = sub.add_parser("get", help="list resources or show one")
    p.add_argument("kind")
    p.add_argument("name", nargs="?")
    p.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")
    ns(p)
    p.set_defaults(func=cmd_get)
    for name, func, text in (
        ("logs", cmd_logs, "print a run's transcript"),
        ("events", cmd_events, "print a run's chain of CloudEvents"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("name")
        ns(p)
        p.set_defaults(func=func)
    p = sub.add_parser("delete", help="delete a resource")
    p.add_argument("kind")
    p.add_argument("name")
    ns(p)
    p.set_defaults(func=cmd_delete)
    p = sub.add_parser("cancel", help="cancel a run")
    p.add_argument("name")
    p.add_argument("--by", default=os.environ.get("USER", "a user"), help="who cancels (recorded)")
    ns(p)
    p.set_defaults(func=cmd_cancel)
    p = sub.add_parser("approve", help="approve tool calls a run waits on (toolPolicy ask)")
    p.add_argument("name")
    p.add_argument("calls", nargs="*", help="tool call ids (default: every call it waits on)")
    p.add_argument("--reject", action="store_true", help="reject instead: the model is told")
    p.add_argument("--by", default=os.environ.get("USER", "a reviewer"), help="who decides")
    ns(p)
    p.set_defaults(func=cmd_approve)
    p = sub.add_parser("wait", help="wait for a run to finish")
    p.add_argument("name")
    p.add_argument("--timeout", type=float, default=300.0)
    ns(p)
    p.set_defaults(func=cmd_wait)
