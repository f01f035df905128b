"""``baton worker|source|up`` and ``baton run --nats``: the NATS JetStream shape."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from functions.ports import Resource

__all__ = ["register", "run_via_nats"]

DEFAULT_URL = os.environ.get("BATON_NATS_URL", "")


def _url(args: argparse.Namespace) -> str:
    url = args.nats or DEFAULT_URL
    if not url:
        raise SystemExit(
            "baton: no NATS server: pass --nats URL or set BATON_NATS_URL (or use baton up)"
        )
    return str(url)


def _serve_metrics(args: argparse.Namespace, what: str) -> None:
    """``/metrics`` on ``--metrics-port`` (env BATON_METRICS_PORT), loopback unless told."""
    if args.metrics_port is None:
        return
    from functions.observe.metrics import serve_metrics

    port = serve_metrics(args.metrics_port, os.environ.get("BATON_BIND_HOST", "127.0.0.1"))
    print(f"baton {what}: metrics on http://127.0.0.1:{port}/metrics", file=sys.stderr, flush=True)


def cmd_worker(args: argparse.Namespace) -> int:
    """Serve functions from JetStream until SIGTERM/SIGINT."""
    from functions import chain
    from functions.runtime.workers import run_worker
    from functions.serve.settings import function_name

    names = [function_name(f) or f for f in args.function or []]  # call-llm, as Knative names it
    unknown = sorted(set(names) - set(chain.FUNCTIONS))
    if unknown:
        known = ", ".join(chain.FUNCTIONS)
        print(f"baton worker: unknown functions {unknown}; known: {known}", file=sys.stderr)
        return 2
    _serve_metrics(args, "worker")
    run_worker(names, _url(args), args.db, offline_fallback=True)
    return 0


def cmd_source(args: argparse.Namespace) -> int:
    """Publish the store's AgentRun changes and sweep ticks until SIGTERM/SIGINT."""
    from functions.runtime.workers import run_source

    _serve_metrics(args, "source")
    run_source(_url(args), args.db, sweep_interval=args.sweep_interval)
    return 0


def _spawn(argv: list[str], log_dir: Path, name: str) -> subprocess.Popen[bytes]:
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child for its life
    return subprocess.Popen(
        [sys.executable, "-m", "functions.cli.main", *argv],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop_all(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in children.values():
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()


def _supervise(url: str, args: argparse.Namespace) -> int:
    from functions import chain

    log_dir = Path(args.db).parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    common = ["--db", args.db]
    groups = [[f] for f in chain.FUNCTIONS] if not args.single else [[]]
    argvs: dict[str, list[str]] = {"source": [*common, "source", "--nats", url]}
    for group in groups:
        flags = [x for f in group for x in ("--function", f)]
        argvs[f"worker-{group[0] if group else 'all'}"] = [*common, "worker", "--nats", url, *flags]
    if args.metrics_port is not None:  # one port each, from the one given: source first
        for offset, argv in enumerate(argvs.values()):
            argv += ["--metrics-port", str(args.metrics_port + offset)]
    children = {name: _spawn(argv, log_dir, name) for name, argv in argvs.items()}
    print(f"baton up: NATS {url}, store {args.db}, logs in {log_dir}/")
    for name, child in children.items():
        print(f"  {name:<24} pid {child.pid}")
    print(
        "Ctrl-C stops everything. In another shell: "
        f"baton --db {args.db} run --nats {url} config/samples/tools.yaml",
        flush=True,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            dead = [n for n, c in children.items() if c.poll() is not None]
            # A crashed process is restarted: JetStream redelivers what it held.
            for name in dead:
                code = children[name].returncode
                print(f"baton up: {name} exited ({code}); restarting", flush=True)
                children[name] = _spawn(argvs[name], log_dir, name)
    finally:
        print("baton up: stopping", flush=True)
        _stop_all(children)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """A local NATS deployment: nats-server (unless --nats), a worker per function, the source."""
    if args.nats:
        return _supervise(args.nats, args)
    from functions.runtime.natsserver import local_nats_server

    store_dir = Path(args.db).parent / "nats"
    store_dir.mkdir(parents=True, exist_ok=True)
    try:
        with local_nats_server(store_dir, port=args.port, graceful=True) as server:
            return _supervise(server.url, args)
    except FileNotFoundError as exc:
        print(f"baton: {exc}", file=sys.stderr)
        return 2


def run_via_nats(args: argparse.Namespace, docs: list[Resource]) -> int:
    """Apply to the shared store and follow: the deployment's source turns it into events."""
    import asyncio

    import nats

    from functions.cli import follow
    from functions.cli.manifests import apply
    from functions.resources.sqlite import SqliteStore
    from functions.runtime.eventlog import EventLog

    async def quiet(_: Exception) -> None:
        return None  # the failure is reported once, below, not logged with a traceback per try

    async def reachable() -> None:
        # nats-py keeps retrying a first connection that fails: bound the whole attempt.
        connecting = nats.connect(
            args.nats, connect_timeout=2, max_reconnect_attempts=0, error_cb=quiet
        )
        client = await asyncio.wait_for(connecting, timeout=5)
        await client.close()

    try:
        asyncio.run(reachable())
    except Exception as exc:  # any failure to connect is reported the same way
        why = str(exc) or "no answer within 5 s"
        print(f"baton: cannot reach NATS at {args.nats}: {why}", file=sys.stderr)
        return 2
    store = SqliteStore(args.db)
    applied = apply(store, docs, rerun=True)
    for item in applied:
        print(item)
    runs = [a.obj for a in applied if a.obj["kind"] == "AgentRun"]
    return follow.follow(store, EventLog(args.db), runs, timeout=args.timeout)


def metrics_port(p: argparse.ArgumentParser) -> None:
    """The ``--metrics-port`` option (env BATON_METRICS_PORT; 0 picks a free port)."""
    env = os.environ.get("BATON_METRICS_PORT")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=int(env) if env else None,
        help="serve Prometheus /metrics on this port (env BATON_METRICS_PORT; 0: any free port)",
    )


def register(sub: Any) -> None:
    """Add the NATS commands to the CLI."""
    p = sub.add_parser("worker", help="serve functions from NATS JetStream")
    p.add_argument("--function", action="append", help="function to serve (repeat; default: all)")
    p.add_argument("--nats", help="NATS URL (env BATON_NATS_URL)")
    metrics_port(p)
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("source", help="publish AgentRun changes and sweep ticks to NATS")
    p.add_argument("--nats", help="NATS URL (env BATON_NATS_URL)")
    p.add_argument("--sweep-interval", type=float, default=1.0)
    metrics_port(p)
    p.set_defaults(func=cmd_source)
    p = sub.add_parser("up", help="run a local NATS deployment: nats-server, workers, source")
    p.add_argument("--nats", help="use this NATS server instead of starting one")
    p.add_argument("--port", type=int, help="port for the local nats-server (default: free)")
    p.add_argument("--single", action="store_true", help="one worker process for all functions")
    p.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics: source on PORT, each worker on the next",
    )
    p.set_defaults(func=cmd_up)
