"""``baton run|apply|get|logs|events|delete|approve|cancel`` on the embedded store."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from functions.cli import follow
from functions.cli.inspect import find_run, kind_of
from functions.cli.manifests import ManifestError, apply, load_files
from functions.cli.target import (
    add_namespace_options,
    db_path,
    is_kubernetes,
    namespace_of,
    store_of,
)
from functions.ports import Invalid, NotFound, Resource, Store
from functions.run.status import is_terminal
from functions.runtime.eventlog import EventLog

if TYPE_CHECKING:
    from functions.runtime.embedded import Embedded

__all__ = ["register", "runtime_unless_taken"]

TAKE_UP = 1.5  # seconds: a runtime's sweep (every second) acts on an approval within this


def cmd_run(args: argparse.Namespace) -> int:
    """Apply the files, run the embedded runtime, follow every AgentRun to the end."""
    from functions.models import has_api_key
    from functions.models.keys import default_key_env
    from functions.runtime.embedded import Embedded, StoreTaken

    try:
        docs = load_files(args.files, namespace_of(args) or "default")
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
    if is_kubernetes(args):
        return _run_on_cluster(args, docs)
    runtime = Embedded(db_path(args), offline_fallback=True)
    try:
        runtime.start()
    except StoreTaken:  # a `baton serve` (or run) holds the store's lock: it runs them
        print(f"another baton runtime serves {db_path(args)}: it runs these; following them")
        log = EventLog(db_path(args))
        try:
            return _apply_and_follow(args, docs, store_of(args), log)
        finally:
            log.close()
    try:
        assert runtime.events is not None
        code = _apply_and_follow(args, docs, runtime.store, runtime.events)
        kinds = {d["kind"] for d in docs}
        if code != 2 and "AgentTrigger" in kinds:
            runtime.triggers.poll_once()  # compiled now: READY (or why not) before this exits
            if "AgentRun" not in kinds:
                print(
                    "note: no AgentRun in these files; AgentTriggers start runs while "
                    "`baton serve` runs on this store"
                )
        return code
    finally:
        runtime.stop()


def _run_on_cluster(args: argparse.Namespace, docs: list[Resource]) -> int:
    """Apply to the cluster and follow: its functions run the runs, this only watches."""
    return _apply_and_follow(args, docs, store_of(args), None)


def _apply_and_follow(
    args: argparse.Namespace, docs: list[Resource], store: Store, events: EventLog | None
) -> int:
    """Apply ``docs`` (a changed run runs again), print each, follow the runs to their end."""
    try:
        applied = apply(store, docs, rerun=True)
    except Invalid as exc:
        print(f"baton: {exc}", file=sys.stderr)
        return 2
    for item in applied:
        print(item)
    runs = [a.obj for a in applied if a.obj["kind"] == "AgentRun"]
    return follow.follow(store, events, runs, timeout=args.timeout)


def cmd_apply(args: argparse.Namespace) -> int:
    """Create or update resources without running anything."""
    try:
        docs = load_files(args.files, namespace_of(args) or "default")
        for item in apply(store_of(args), docs):
            print(item)
    except (ManifestError, Invalid) as exc:
        print(f"baton: {exc}", file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace) -> tuple[Any, Resource] | None:
    run = find_run(args)
    return None if run is None else (store_of(args), run)


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete one resource (a run's journal goes with it)."""
    store, kind, namespace = store_of(args), kind_of(args.kind), namespace_of(args) or "default"
    try:
        store.delete(kind, namespace, args.name)
    except NotFound:
        print(f"baton: {kind} {namespace}/{args.name} not found", file=sys.stderr)
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

    found = _run(args)
    if found is None:
        return 1
    store, run = found
    if is_terminal(run):
        phase = run["status"]["phase"]
        print(f"baton: {args.name} already ended {phase}: nothing to cancel", file=sys.stderr)
        return 1
    try:
        steering.cancel(store, run["metadata"]["namespace"], args.name, args.by)
    except NotFound:
        print(f"baton: agentrun {run['metadata']['namespace']}/{args.name} gone", file=sys.stderr)
        return 1
    except steering.RunKeptChanging as exc:
        print(f"baton: {exc}", file=sys.stderr)
        return 1
    print(f"agentrun/{args.name} cancellation requested")
    if args.no_wait or is_kubernetes(args):
        return 0  # a cluster's sweep takes the annotation up
    _complete(args, run, lambda status: is_terminal({"status": status}))
    ended = store.get("AgentRun", run["metadata"]["namespace"], args.name).get("status") or {}
    return 0 if ended.get("phase") == "Cancelled" else 1


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
        print(f"baton: agentrun {run['metadata']['namespace']}/{args.name} gone", file=sys.stderr)
        return 1
    except (steering.NothingToDecide, steering.RunKeptChanging) as exc:
        print(f"baton: {exc}", file=sys.stderr)
        return 1
    print(f"agentrun/{args.name}: {'rejected' if args.reject else 'approved'} {', '.join(calls)}")
    if args.no_wait or is_kubernetes(args):
        return 0  # a cluster's sweep takes the annotation up
    waiting = set(calls)
    return _complete(
        args, found[1], lambda status: not waiting & set(status.get("awaitingApproval") or [])
    )


def _complete(
    args: argparse.Namespace, run: Resource, taken_up: Callable[[Mapping[str, Any]], bool]
) -> int:
    """Follow the run to its end; run it here when no runtime takes the decision up.

    A ``baton run``/``baton serve`` on the store (it holds the store's lock) or a NATS
    deployment acts on the decision at its next sweep (every second); when none did within
    ``TAKE_UP`` seconds and no runtime holds the store, this process starts an embedded
    runtime on it and runs the rest of the run itself.
    """
    store, ns, name = store_of(args), namespace_of(args) or "default", args.name
    key = f"{ns}/{name}"
    log = EventLog(db_path(args))
    seen = {key: max((ev.seq for ev in log.read(key, uid=run["metadata"].get("uid"))), default=0)}
    runtime = runtime_unless_taken(db_path(args), store, run, taken_up)
    try:
        if runtime is None:
            print(f"{name}: taken up by a running baton; following it", flush=True)
            return follow.follow(store, log, [run], timeout=args.timeout, since=seen)
        assert runtime.events is not None
        return follow.follow(runtime.store, runtime.events, [run], timeout=args.timeout, since=seen)
    finally:
        log.close()
        if runtime is not None:
            runtime.stop()


def runtime_unless_taken(
    db: str, store: Store, run: Resource, taken_up: Callable[[Mapping[str, Any]], bool]
) -> Embedded | None:
    """An embedded runtime started here on ``db`` when, within ``TAKE_UP`` seconds, no
    baton took ``run`` up (``taken_up`` of its status) and none holds the store; else None."""
    from functions.runtime.embedded import Embedded, StoreTaken

    ns, name = run["metadata"]["namespace"], run["metadata"]["name"]
    deadline = time.monotonic() + TAKE_UP
    while time.monotonic() < deadline:
        if taken_up(store.get("AgentRun", ns, name).get("status") or {}):
            return None  # a runtime (serve, run, a NATS deployment) has it
        time.sleep(0.1)
    runtime = Embedded(db, offline_fallback=True)
    try:
        runtime.start()
    except StoreTaken:  # another runtime serves the store: it will take it up
        runtime.stop()
        return None
    print(f"{name}: no baton runtime took it up; running it here", flush=True)
    return runtime


def register(sub: Any) -> None:
    """Add the run commands to the CLI."""
    p = sub.add_parser("run", help="apply files and follow their AgentRuns to the end")
    p.add_argument("files", nargs="+", help="YAML: Models, Agents, MCPServers, triggers, runs")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the runs")
    p.add_argument("--nats", metavar="URL", help="submit through a NATS deployment (baton up)")
    add_namespace_options(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("apply", help="create or update resources from files")
    p.add_argument("-f", "--filename", dest="files", action="append", required=True)
    add_namespace_options(p)
    p.set_defaults(func=cmd_apply)
    p = sub.add_parser("delete", help="delete a resource")
    p.add_argument("kind", help="run, agent, model, mcpserver or trigger")
    p.add_argument("name", help="the resource")
    add_namespace_options(p)
    p.set_defaults(func=cmd_delete)
    p = sub.add_parser("cancel", help="cancel a run")
    p.add_argument("name", help="the AgentRun")
    p.add_argument("--by", default=os.environ.get("USER", "a user"), help="who cancels (recorded)")
    p.add_argument(
        "--no-wait", action="store_true", help="only record the request; do not follow the run"
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to follow the run")
    add_namespace_options(p)
    p.set_defaults(func=cmd_cancel)
    p = sub.add_parser("approve", help="approve tool calls a run waits on (toolPolicy ask)")
    p.add_argument("name", help="the AgentRun")
    p.add_argument("calls", nargs="*", help="tool call ids (default: every call it waits on)")
    p.add_argument("--reject", action="store_true", help="reject instead: the model is told")
    p.add_argument("--by", default=os.environ.get("USER", "a reviewer"), help="who decides")
    p.add_argument(
        "--no-wait", action="store_true", help="only record the decision; do not follow the run"
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to follow the run")
    add_namespace_options(p)
    p.set_defaults(func=cmd_approve)
    p = sub.add_parser("wait", help="wait for a run to finish")
    p.add_argument("name", help="the AgentRun")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait")
    add_namespace_options(p)
    p.set_defaults(func=cmd_wait)
