"""prepare_context: freeze the run's context and ask for the first model turn.

The system prompt, the session's earlier exchanges, the task and the tool
definitions are written once to the journal (``context``), trimmed to the
agent's token budget, so later steps never re-read the Agent or list MCP tools.

Server mode: a run without a task goes Serving (no model call) once its context
is written; ``run.input.received`` then takes the next queued input (journaled by
route or ``baton send``, see functions.run.session) into the transcript as the user
message that opens the next step, and asks for that model turn.
"""

from __future__ import annotations

from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.envelope import CloudEvent
from events.errors import TransientError
from events.run_events import decode
from functions.ports import Deps, NotFound, Resource
from functions.run import session
from functions.run.status import KIND, Phase, Stage, get_run, rfc3339
from functions.run.step import Outcome, advance, follow_up
from functions.run.transcript import CONTEXT, user_key
from functions.run.view import RunView

__all__ = ["decide_context", "decide_input", "estimate_tokens", "handle", "session_history"]

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
        "fallbackModels": [r["name"] for r in agent["spec"].get("fallbackModelRefs") or []],
        "budget": agent["spec"].get("budget") or {},
        "agent": agent["metadata"]["name"],
        "limits": agent["spec"].get("limits") or {},
        "toolPolicy": agent["spec"].get("toolPolicy") or {},
        "overridePolicy": overrides.get("toolPolicy") or {},
    }


def decide_context(view: RunView, step: int, context: dict[str, Any]) -> Outcome:
    """Freeze ``context`` and open step 1 (or wait for input: a server run without a task)."""
    if (
        step != 0
        or not context
        or view.phase not in (Phase.RUNNING, Phase.SERVING)
        or view.stage != Stage.ACCEPTED
    ):
        return Outcome()
    st = view.edit()
    if view.phase == Phase.SERVING:
        st.update(stage=Stage.INPUT)
    else:
        st.update(step=1, stage=Stage.MODEL)
    return Outcome(st, {CONTEXT: context})


def decide_input(view: RunView, index: int) -> Outcome:
    """Open the next step with queued input ``index`` (a Serving run waiting for it only)."""
    st = view.status
    if view.phase != Phase.SERVING or view.stage != Stage.INPUT or session.next_input(st) != index:
        return Outcome()  # busy (the input waits in the queue), over, or taken already
    entry = view.transcript.entries.get(session.input_key(index))
    if entry is None:
        raise TransientError(
            f"run {view.ref.key}: input {index} is counted but not yet readable",
            reason="InputNotFound",
        )
    step = view.step + 1
    new = view.edit()
    new.update(
        phase=Phase.RUNNING,
        stage=Stage.MODEL,
        step=step,
        inputsTaken=index,
        exchangeStartedAt=rfc3339(view.now),
    )
    new.pop("result", None)
    journal = {user_key(step): {"role": "user", "content": entry["content"], "input": index}}
    return Outcome(new, journal)


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Write the context once and ask for the first model turn (or take a queued input)."""
    ev = decode(event)
    if ev.type == types.RUN_INPUT_RECEIVED:
        result = advance(deps, ev.run, lambda view: decide_input(view, ev.index))
        return follow_up(deps, result, event)
    run = get_run(deps, ev.run)
    if run is None:
        return []
    context: dict[str, Any] = {}
    status = run.get("status") or {}
    if status.get("stage") == Stage.ACCEPTED and ev.step == 0:
        try:
            context = _context(deps, run)
        except NotFound as exc:
            # The Agent (or an MCPServer it names) vanished after validation. Retry (it may
            # be being replaced), then the dead letter fails the run: a drop would hang it.
            raise TransientError(f"run {ev.run.key}: {exc}", reason="ReferenceNotFound") from exc
    result = advance(deps, ev.run, lambda view: decide_context(view, ev.step, context), read=run)
    return follow_up(deps, result, event)
