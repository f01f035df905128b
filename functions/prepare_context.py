"""prepare_context: freeze the run's context and ask for the first model turn.

The system prompt, the session's earlier exchanges, the task and the tool
definitions are written once to the journal (``context``), trimmed to the
agent's token budget, so later steps never re-read the Agent or list MCP tools.

Server mode: a run without a task goes Serving (no model call) once its context
is written; ``run.input.received`` then takes the next queued input (journaled by
route or ``baton send``, see functions.session) into the transcript as the user
message that opens the next step, and asks for that model turn.
"""

from __future__ import annotations

from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.envelope import CloudEvent, RunRef, run_event, run_ref_of, step_of
from events.errors import TransientError
from functions import session
from functions.agentrun import KIND, Stage, get_run, rfc3339, transact
from functions.ports import Deps, NotFound, Resource
from functions.transcript import CONTEXT, user_key

__all__ = ["estimate_tokens", "handle", "session_history"]

NAME = "prepare_context"
DEFAULT_BUDGET: Final = 100_000


def estimate_tokens(text: str) -> int:
    """A cheap, conservative token estimate (about four characters a token)."""
    return len(text) // 4 + 1


def session_history(deps: Deps, run: Resource, budget: int) -> list[dict[str, Any]]:
    """Earlier task/answer pairs of the run's session, newest kept first within ``budget``."""
    key = run["spec"].get("sessionKey")
    if not key:
        return []
    namespace = run["metadata"].get("namespace", "default")
    earlier = [
        r
        for r in deps.store.list(KIND, namespace)
        if r["spec"].get("sessionKey") == key
        and r["metadata"]["uid"] != run["metadata"]["uid"]
        and r.get("status", {}).get("phase") == "Succeeded"
        and r.get("status", {}).get("result")
    ]
    earlier.sort(key=lambda r: r.get("status", {}).get("completedAt", ""))
    pairs: list[tuple[str, str]] = []
    for prior in earlier:
        if session.is_server(prior):  # a session: every exchange, from its journal
            task = str(prior["spec"].get("task") or "")
            pairs.extend(session.exchanges(task, deps.store.read_journal(prior)))
        else:
            pairs.append((prior["spec"].get("task", ""), prior["status"]["result"]))
    kept: list[dict[str, Any]] = []
    for question, answer in reversed(pairs):
        cost = estimate_tokens(question) + estimate_tokens(answer)
        if cost > budget:
            break
        budget -= cost
        kept[:0] = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    return kept


def _context(deps: Deps, run: Resource) -> dict[str, Any]:
    spec = run["spec"]
    namespace = run["metadata"].get("namespace", "default")
    agent = deps.store.get("Agent", namespace, spec["agentRef"]["name"])
    overrides = spec.get("overrides") or {}
    system = overrides.get("systemPrompt") or agent["spec"].get("systemPrompt", "")
    tools = [
        {"name": t.name, "description": t.description, "input_schema": dict(t.input_schema)}
        for t in deps.tools.specs(agent, namespace)
    ]
    budget = int(agent["spec"].get("contextTokenBudget") or DEFAULT_BUDGET)
    budget -= estimate_tokens(system) + estimate_tokens(spec.get("task", ""))
    messages = session_history(deps, run, max(budget, 0))
    if spec.get("task") or not session.is_server(run):
        messages.append({"role": "user", "content": spec.get("task", "")})
    model = overrides.get("modelRef", {}).get("name") or agent["spec"]["modelRef"]["name"]
    return {
        "system": system,
        "tools": tools,
        "messages": messages,
        "model": model,
        "agent": agent["metadata"]["name"],
        "limits": agent["spec"].get("limits") or {},
        "toolPolicy": agent["spec"].get("toolPolicy") or {},
        "overridePolicy": overrides.get("toolPolicy") or {},
    }


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Write the context once and emit ``llm.requested`` for step 1 (or take an input)."""
    ref = run_ref_of(event)
    if event.get_type() == types.RUN_INPUT_RECEIVED:
        return _take_input(event, deps, ref)
    if step_of(event) != 0:
        return []
    run = get_run(deps, ref)
    status = (run or {}).get("status") or {}
    if (
        run is None
        or status.get("phase") not in ("Running", "Serving")
        or status.get("stage") != Stage.ACCEPTED
    ):
        return []
    try:
        context = _context(deps, run)
    except NotFound as exc:
        # The Agent (or an MCPServer it names) vanished after validation. Retry (it may be
        # being replaced), then the dead letter fails the run: a drop would leave it Running.
        raise TransientError(f"run {ref.key}: {exc}", reason="ReferenceNotFound") from exc
    deps.store.append_journal(run, CONTEXT, context)  # a redelivery finds it and keeps the first

    serve = status.get("phase") == "Serving"  # server mode, no task: wait for input

    def first_turn(current: Resource, st: dict[str, Any]) -> bool:
        if st.get("phase") not in ("Running", "Serving") or st.get("stage") != Stage.ACCEPTED:
            return False
        if serve:
            st.update(stage=Stage.INPUT)
        else:
            st.update(step=1, stage=Stage.MODEL)
        return True

    written = transact(deps, ref, first_turn, read=run)
    if written is None:
        return []
    traceparent = event.get_extension("traceparent")
    if serve:
        return _wake(deps, written)
    return [run_event(types.LLM_REQUESTED, NAME, ref, 1, traceparent=traceparent)]


def _wake(deps: Deps, run: Resource) -> list[CloudEvent]:
    """``run.input.received`` for an input that queued while the context was prepared."""
    index = session.next_input(run["status"])
    if not index:
        return []
    entry = dict(deps.store.read_journal(run)).get(session.input_key(index)) or {}
    step = int(run["status"].get("step", 0))
    text = str(entry.get("content", ""))
    return [session.input_event(RunRef.of(run), step, index, text, NAME)]


def _take_input(event: BaseCloudEvent, deps: Deps, ref: RunRef) -> list[CloudEvent]:
    """Open the next step with the next queued input (a Serving run only; else a no-op)."""
    run = get_run(deps, ref)
    status = (run or {}).get("status") or {}
    if run is None or status.get("phase") != "Serving" or status.get("stage") != Stage.INPUT:
        return []  # busy (the input waits in the queue) or over
    index = session.next_input(status)
    if not index:
        return []  # already taken: a duplicate or late wake-up
    entry = dict(deps.store.read_journal(run)).get(session.input_key(index))
    if entry is None:
        raise TransientError(
            f"run {ref.key}: input {index} is counted but not yet readable",
            reason="InputNotFound",
        )
    step = int(status.get("step", 0)) + 1
    now = deps.clock.now()
    # Journal first: a redelivery finds the same (input, step) pair, as status only moves here.
    deps.store.append_journal(
        run, user_key(step), {"role": "user", "content": entry["content"], "input": index}
    )

    def take(current: Resource, st: dict[str, Any]) -> bool:
        if (
            st.get("phase") != "Serving"
            or st.get("stage") != Stage.INPUT
            or session.next_input(st) != index
            or int(st.get("step", 0)) != step - 1
        ):
            return False
        st.update(
            phase="Running",
            stage=Stage.MODEL,
            step=step,
            inputsTaken=index,
            exchangeStartedAt=rfc3339(now),
        )
        return True

    if transact(deps, ref, take, read=run) is None:
        return []
    traceparent = event.get_extension("traceparent")
    return [run_event(types.LLM_REQUESTED, NAME, ref, step, traceparent=traceparent)]
