"""``baton send``: give a server-mode run (a session) its next input, through the store.

The command writes the store only: the input is journaled and counted on the run
(``status.inputs``), and the runtime's sweep, in whatever process it runs, sees a
Serving run with queued input and wakes it. A CLI cannot publish into another
process's in-process bus; a level-triggered store write works in every shape.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Mapping
from typing import Any

from functions.ports import NotFound, Resource

__all__ = ["answer_of", "register"]


def answer_of(entries: list[tuple[str, dict[str, Any]]], index: int) -> str | None:
    """The final answer to input ``index`` from a run's journal, None while it is not there."""
    from functions.ports import ModelReply

    opened: int | None = None
    text: str | None = None
    for key, entry in entries:
        if key.startswith("user/"):
            if opened is not None:
                return text  # the next input opened: ours was answered before it
            if entry.get("input") == index:
                opened = int(key.split("/", 1)[1])
        elif opened is not None and key.startswith("reply/") and int(key[6:]) >= opened:
            reply = ModelReply(list(entry.get("content") or []), str(entry.get("stop_reason")))
            text = reply.text if not reply.tool_calls else None
    return text


def _wait(store: Any, run: Resource, index: int, timeout: float) -> str | None:
    """The answer to input ``index`` once the run recorded it (None on timeout or if it ended)."""
    from functions.run.status import is_terminal

    deadline = time.monotonic() + timeout
    ns, name = run["metadata"]["namespace"], run["metadata"]["name"]
    while time.monotonic() < deadline:
        current = store.get("AgentRun", ns, name)
        st = current.get("status") or {}
        answered = int(st.get("inputsTaken", 0)) > index or (
            int(st.get("inputsTaken", 0)) == index and st.get("phase") == "Serving"
        )
        if answered:
            return answer_of(store.read_journal(current), index)
        if is_terminal(current):
            return None
        time.sleep(0.05)
    return None


def cmd_send(args: argparse.Namespace) -> int:
    """Journal one input for a server-mode run; with --wait, print its answer."""
    from functions.cli.runs import runtime_unless_taken
    from functions.cli.target import db_path, is_kubernetes, namespace_of, store_of
    from functions.run import session
    from functions.runtime.deps import build_deps

    store = store_of(args)  # the embedded file, or a cluster (--kubeconfig / --store)
    args.namespace = namespace_of(args) or "default"
    try:
        run = store.get("AgentRun", args.namespace, args.name)
    except NotFound:
        print(f"baton: agentrun {args.namespace}/{args.name} not found", file=sys.stderr)
        return 1
    if not session.is_server(run):
        print(f"baton: {args.name} is not a server-mode run (spec.mode)", file=sys.stderr)
        return 1
    origin = f"cli:{args.by}#{args.id or uuid.uuid4().hex}"
    received = session.receive(build_deps(store), run, args.text, origin)
    written = received.after if received is not None else None
    if written is None:
        phase = (store.get("AgentRun", args.namespace, args.name).get("status") or {}).get("phase")
        print(f"baton: {args.name} takes no more input (phase {phase})", file=sys.stderr)
        return 1
    index = next(
        int(key.split("/", 1)[1])
        for key, entry in store.read_journal(written)
        if key.startswith(session.INPUT_PREFIX) and entry.get("origin") == origin
    )
    print(f"agentrun/{args.name}: input {index} sent")
    if not args.wait:
        return 0

    # On a cluster its functions take the input up; an embedded store may have no runtime.
    def taken_up(status: Mapping[str, Any]) -> bool:
        return int(status.get("inputsTaken", 0)) >= index or status.get("phase") != "Serving"

    runtime = (
        None
        if is_kubernetes(args)
        else runtime_unless_taken(db_path(args), store, written, taken_up)
    )
    try:
        answer = _wait(store, written, index, args.timeout)
    finally:
        if runtime is not None:
            runtime.stop()
    if answer is None:
        print(f"baton: no answer to input {index} yet", file=sys.stderr)
        return 1
    print(answer)
    return 0


def register(sub: Any) -> None:
    """Add ``send`` to the CLI."""
    from functions.cli.target import add_namespace_options

    p = sub.add_parser("send", help="give a server-mode run (a session) its next input")
    p.add_argument("name", help="the server-mode AgentRun (the session)")
    p.add_argument("text", help="the next input")
    add_namespace_options(p)
    p.add_argument("--by", default=os.environ.get("USER", "a user"), help="who sends (recorded)")
    p.add_argument("--id", help="idempotency id: the same id sent twice is one input")
    p.add_argument("--wait", action="store_true", help="wait for the answer and print it")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds --wait waits")
    p.set_defaults(func=cmd_send)
