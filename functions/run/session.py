"""Server mode: a long-lived AgentRun that takes new input, one exchange at a time.

An input is journaled under ``input/<k>`` (k = 1, 2, ... in arrival order) with its
``origin`` (the chat message's CloudEvent source#id, or whatever names the sender's
request), so the same message delivered twice is journaled once. ``status.inputs``
counts what was journaled; ``status.inputsTaken`` counts what prepare_context took
into the transcript. The difference is the queue: inputs that arrive while the run
is Running wait there and are taken in order, one exchange after the other.

Writers of an input (route for chat messages, ``baton send`` through the store)
journal it and bump ``status.inputs`` in one conditional write; the status write
is what makes a concurrent transition re-read, so an input is never lost between
"the turn ended" and "the run went back to Serving". ``run.input.received`` is only
a wake-up, and one of the run's needs (``functions.run.needs``): a Serving run with
queued input needs it, whoever looks (the commit that counted the input, the one
that ended an exchange, sweep), and prepare_context's guard on the status makes
every extra copy a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from events.envelope import RunRef
from events.errors import TransientError
from functions.ports import Deps, Resource
from functions.run.status import TERMINAL_PHASES, Stage, parse_duration, rfc3339
from functions.run.step import Outcome, Result, advance
from functions.run.transcript import Transcript
from functions.run.view import RunView

__all__ = [
    "DEFAULT_IDLE_TTL",
    "INPUT_PREFIX",
    "exchanges",
    "idle_ttl",
    "input_key",
    "is_server",
    "next_input",
    "receive",
    "reply_routing",
]

DEFAULT_IDLE_TTL: Final = "30m"
INPUT_PREFIX: Final = "input/"
_MAX_APPEND_RACES: Final = 16


def is_server(run: Resource) -> bool:
    """True for a server-mode run (a session that takes input)."""
    return (run.get("spec") or {}).get("mode") == "server"


def input_key(index: int) -> str:
    """Journal key of the ``index``-th input (1-based)."""
    return f"{INPUT_PREFIX}{index}"


def idle_ttl(run: Resource) -> float:
    """Seconds a Serving run may wait for input before it ends (spec.idleTTL, default 30m)."""
    value = parse_duration(run["spec"].get("idleTTL") or DEFAULT_IDLE_TTL)
    return value if value is not None else 1800.0


def next_input(status: Mapping[str, Any]) -> int:
    """The index of the queued input to take next, or 0 when none is waiting."""
    taken = int(status.get("inputsTaken", 0))
    return taken + 1 if int(status.get("inputs", 0)) > taken else 0


def _journal(
    deps: Deps, run: Resource, text: str, origin: str, routing: dict[str, Any] | None
) -> int:
    """Append the input once per ``origin``; its index (the existing one for a duplicate)."""
    for _ in range(_MAX_APPEND_RACES):
        known = {
            str(entry.get("origin")): int(key[len(INPUT_PREFIX) :])
            for key, entry in deps.store.read_journal(run)
            if key.startswith(INPUT_PREFIX)
        }
        if origin in known:
            return known[origin]
        index = len(known) + 1
        entry: dict[str, Any] = {
            "content": text,
            "origin": origin,
            "receivedAt": rfc3339(deps.clock.now()),
        }
        if routing:
            entry["routing"] = routing  # where this input's answer goes (its own replyTo)
        if deps.store.append_journal(run, input_key(index), entry):
            return index
        # Another writer took this index first: read again (it may be this very origin).
    raise TransientError(
        f"agentrun {RunRef.of(run).key}: {_MAX_APPEND_RACES} concurrent inputs in a row",
        reason="InputConflict",
    )


def receive(
    deps: Deps,
    run: Resource,
    text: str,
    origin: str,
    routing: dict[str, Any] | None = None,
) -> Result | None:
    """Journal and count one input of a server-mode run; None if the run no longer takes input.

    None means the run is over (or not in server mode): the caller starts a new run
    instead. A duplicate ``origin`` counts nothing new. The result's follow-up events
    wake a Serving run for the input (``run.input.received``).
    """
    if not is_server(run) or (run.get("status") or {}).get("phase") in TERMINAL_PHASES:
        return None
    index = _journal(deps, run, text, origin, routing)

    def count(view: RunView) -> Outcome:
        st = view.status
        if st.get("phase") in TERMINAL_PHASES or st.get("stage") == Stage.FINALIZING:
            return Outcome(idle="ended")  # its end is recorded: the input starts a new run
        if int(st.get("inputs", 0)) >= index:
            return Outcome()  # counted already (a duplicate, or a later input counted first)
        new = view.edit()
        new.update(inputs=index, lastInputAt=rfc3339(view.now))
        return Outcome(new)

    result = advance(deps, RunRef.of(run), count, read=run)
    return None if result.outcome.idle == "ended" else result


def reply_routing(run: Resource, transcript: Transcript, step: int) -> Any:
    """Where the answer of ``step`` goes: the opening input's own routing, else the run's."""
    opening = transcript.user(transcript.exchange_start(step)) or {}
    index = int(opening.get("input", 0))
    routing = (run.get("spec") or {}).get("routing")
    if index:
        entry = transcript.entries.get(input_key(index)) or {}
        routing = entry.get("routing") or routing
    return routing


def exchanges(task: str, entries: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    """(question, final answer) of each answered exchange in a server-mode run's journal."""
    pairs: list[tuple[str, str]] = []
    question: str | None = task or None
    answer: str | None = None
    for key, entry in entries:
        if key.startswith("user/"):
            if question is not None and answer is not None:
                pairs.append((question, answer))
            question, answer = str(entry.get("content", "")), None
        elif key.startswith("reply/"):
            blocks = entry.get("content") or []
            if not any(b.get("type") == "tool_use" for b in blocks):
                answer = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    if question is not None and answer is not None:
        pairs.append((question, answer))
    return pairs
