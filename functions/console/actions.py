"""What a person can do from the console: approve or reject a parked tool call, cancel a
run, send input to a Serving session.

The same paths as the CLI (``functions.run.steering`` for annotations that sweep acts on,
``functions.run.session.receive`` for input): the console never writes a run another way.
Each answer is ``(HTTP status, JSON body)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from functions.ports import Deps, NotFound, Resource, Store
from functions.run import session, steering
from functions.run.status import is_terminal

__all__ = ["MAX_INPUT", "approve", "cancel", "send"]

MAX_INPUT: Final = 100_000
MAX_BY: Final = 100
Answer = tuple[int, dict[str, Any]]


def _error(status: int, reason: str, message: str) -> Answer:
    return status, {"reason": reason, "message": message}


def _by(body: Mapping[str, Any]) -> str:
    by = body.get("by")
    return str(by)[:MAX_BY] if isinstance(by, str) and by.strip() else "console"


def approve(store: Store, run: Resource, body: Mapping[str, Any], *, reject: bool) -> Answer:
    """Decide tool calls ``body["calls"]`` (every waiting one when absent) of ``run``."""
    calls = body.get("calls") or []
    if not isinstance(calls, list) or not all(isinstance(c, str) for c in calls):
        return _error(400, "BadRequest", "calls must be a list of tool call ids")
    try:
        _, decided = steering.decide(store, run, calls, reject=reject, by=_by(body))
    except steering.NothingToDecide as exc:
        return _error(409, "NotWaiting", str(exc))
    except steering.RunKeptChanging as exc:
        return _error(409, "Conflict", str(exc))
    return 202, {"decided": decided, "rejected": reject}


def cancel(store: Store, run: Resource, body: Mapping[str, Any]) -> Answer:
    """Ask for ``run`` to be cancelled."""
    if is_terminal(run):
        return _error(409, "Finished", f"{run['metadata']['name']} has already finished")
    meta = run["metadata"]
    try:
        steering.cancel(store, meta.get("namespace", "default"), meta["name"], _by(body))
    except steering.RunKeptChanging as exc:
        return _error(409, "Conflict", str(exc))
    return 202, {"cancelling": meta["name"]}


def send(deps: Deps, run: Resource, body: Mapping[str, Any]) -> Answer:
    """Journal ``body["text"]`` as the next input of a Serving run (``body["id"]`` dedupes)."""
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return _error(400, "BadRequest", "text must be a non-empty string")
    if len(text) > MAX_INPUT:
        return _error(400, "BadRequest", f"text is {len(text)} characters; at most {MAX_INPUT}")
    if not session.is_server(run):
        return _error(409, "NotASession", f"{run['metadata']['name']} is not a server-mode run")
    given = body.get("id")
    key = str(given)[:100] if isinstance(given, str) and given else uuid.uuid4().hex
    origin = f"console:{_by(body)}#{key}"
    try:
        received = session.receive(deps, run, text, origin)
    except NotFound:
        return _error(404, "NotFound", f"agentrun {run['metadata']['name']} is gone")
    # As `baton send`: the store write is the request; sweep wakes the run in whatever
    # process runs the chain (this one may have no bus at all: the console Service).
    written = received.after if received is not None else None
    if written is None:
        return _error(409, "Finished", f"{run['metadata']['name']} takes no more input")
    return 202, {"sent": True, "inputs": int((written.get("status") or {}).get("inputs", 0))}
