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
a wake-up: whoever sees a Serving run with queued input emits it (route, call_llm
at the end of an exchange, sweep at every tick), and prepare_context's guard on
the status makes every extra copy a no-op.
"""

from __future__ import annotations

from typing import Any, Final

from events import types
from events.envelope import CloudEvent, RunRef, run_event
from events.errors import TransientError
from functions.agentrun import TERMINAL_PHASES, get_run, parse_duration, rfc3339, transact
from functions.ports import Deps, Resource
from functions.transcript import Transcript

__all__ = [
    "DEFAULT_IDLE_TTL",
    "INPUT_PREFIX",
    "exchanges",
    "idle_ttl",
    "input_event",
    "input_key",
    "is_server",
    "next_input",
    "receive",
    "reply_events",
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


def next_input(status: dict[str, Any]) -> int:
    """The index of the queued input to take next, or 0 when none is waiting."""
    taken = int(status.get("inputsTaken", 0))
    return taken + 1 if int(status.get("inputs", 0)) > taken else 0


def input_event(
    ref: RunRef, step: int, index: int, text: str, transition: str, *, redrive: str = ""
) -> CloudEvent:
    """``run.input.received`` for input ``index``: one id per input, step and emitter.

    ``redrive`` (sweep: the run's lastEventTime) makes a new id once the run changed,
    so a bus that dedupes by id lets the next wake-up through.
    """
    suffix = f"input-{index}" + (f"-redrive-{redrive}" if redrive else "")
    return run_event(
        types.RUN_INPUT_RECEIVED,
        transition,
        ref,
        step,
        {"input": text, "index": index},
        tool_call_id=suffix,
    )


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
) -> Resource | None:
    """Journal and count one input of a server-mode run; the run as written, None if it is over.

    None means the run no longer takes input (finished, or not in server mode): the
    caller starts a new run instead. A duplicate ``origin`` changes nothing and
    returns the run as it is.
    """
    if not is_server(run) or (run.get("status") or {}).get("phase") in TERMINAL_PHASES:
        return None
    index = _journal(deps, run, text, origin, routing)
    now = deps.clock.now()
    ended = False

    def count(current: Resource, st: dict[str, Any]) -> bool:
        nonlocal ended
        if st.get("phase") in TERMINAL_PHASES:
            ended = True
            return False
        if int(st.get("inputs", 0)) >= index:
            return False  # counted already (a duplicate, or a later input counted first)
        st.update(inputs=index, lastInputAt=rfc3339(now))
        return True

    written = transact(deps, RunRef.of(run), count, read=run)
    if ended:
        return None
    return written if written is not None else get_run(deps, RunRef.of(run))


def reply_events(
    deps: Deps,
    ref: RunRef,
    step: int,
    text: str,
    run: Resource,
    transcript: Transcript,
    traceparent: Any,
    transition: str = "call_llm",
) -> list[CloudEvent]:
    """``run.replied`` for the answer of ``step``, and a wake-up for the next queued input."""
    opening = transcript.user(transcript.exchange_start(step)) or {}
    index = int(opening.get("input", 0))
    routing = run["spec"].get("routing")
    if index:
        entry = transcript.entries.get(input_key(index)) or {}
        routing = entry.get("routing") or routing  # the input's own thread/replyTo
    replied = run_event(
        types.RUN_REPLIED,
        transition,
        ref,
        step,
        {"result": text, "input": index, "routing": routing},
        traceparent=traceparent,
    )
    queued = next_input(run["status"])
    if not queued:
        return [replied]
    # Inputs that arrived during this exchange: wake prepare_context for the next one.
    entry = dict(deps.store.read_journal(run)).get(input_key(queued)) or {}
    return [replied, input_event(ref, step, queued, str(entry.get("content", "")), transition)]


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
