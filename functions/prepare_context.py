"""prepare_context: freeze the run's context and ask for the first model turn.

The system prompt, the session's earlier exchanges, the task and the tool
definitions are written once to the journal (``context``), trimmed to the
agent's token budget, so later steps never re-read the Agent or list MCP tools.
"""

from __future__ import annotations

from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.envelope import CloudEvent, run_event, run_ref_of, step_of
from events.errors import TransientError
from functions.agentrun import KIND, Stage, get_run, transact
from functions.ports import Deps, NotFound, Resource
from functions.transcript import CONTEXT

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
    kept: list[dict[str, Any]] = []
    for prior in reversed(earlier):
        pair = [
            {"role": "user", "content": prior["spec"].get("task", "")},
            {"role": "assistant", "content": prior["status"]["result"]},
        ]
        cost = sum(estimate_tokens(m["content"]) for m in pair)
        if cost > budget:
            break
        budget -= cost
        kept[:0] = pair
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
    """Write the context once and emit ``llm.requested`` for step 1."""
    ref = run_ref_of(event)
    if step_of(event) != 0:
        return []
    run = get_run(deps, ref)
    status = (run or {}).get("status") or {}
    if run is None or status.get("phase") != "Running" or status.get("stage") != Stage.ACCEPTED:
        return []
    try:
        context = _context(deps, run)
    except NotFound as exc:
        # The Agent (or an MCPServer it names) vanished after validation. Retry (it may be
        # being replaced), then the dead letter fails the run: a drop would leave it Running.
        raise TransientError(f"run {ref.key}: {exc}", reason="ReferenceNotFound") from exc
    deps.store.append_journal(run, CONTEXT, context)  # a redelivery finds it and keeps the first

    def first_turn(current: Resource, st: dict[str, Any]) -> bool:
        if st.get("phase") != "Running" or st.get("stage") != Stage.ACCEPTED:
            return False
        st.update(step=1, stage=Stage.MODEL)
        return True

    if transact(deps, ref, first_turn, read=run) is None:
        return []
    traceparent = event.get_extension("traceparent")
    return [run_event(types.LLM_REQUESTED, NAME, ref, 1, traceparent=traceparent)]
