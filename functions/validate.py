"""validate: an AgentRun was added; check its spec and references, then accept it.

Unknown references leave the run Pending with a reason, and the run is announced
again while it waits; it proceeds once the reference appears, or fails after its
waiting deadline (its timeout, else ``PENDING_DEADLINE``) with the missing reference
named. An invalid run fails with the reason; a valid one goes Running (Serving: a
server-mode run with no task) and ``run.accepted`` starts the chain.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events.apiserver import object_of
from events.envelope import CloudEvent, RunRef
from events.errors import MalformedEvent
from functions.ports import Deps, NotFound, Resource
from functions.run.session import is_server
from functions.run.status import (
    KIND,
    Phase,
    Stage,
    get_run,
    parse_duration,
    parse_time,
    rfc3339,
    set_condition,
)
from functions.run.step import Outcome, advance, follow_up
from functions.run.view import RunView

__all__ = ["PENDING_DEADLINE", "Verdict", "check_references", "decide", "handle"]

NAME = "validate"
# How long a run waits for a reference (Agent, Model, MCPServer) when it has no timeout.
PENDING_DEADLINE: Final = 600.0


@dataclass(frozen=True)
class Verdict:
    """What the references say: ``ok``, ``unresolved`` (may appear) or ``invalid`` (never)."""

    kind: str
    reason: str = ""
    message: str = ""


class _Unresolved(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.verdict = Verdict("unresolved", reason, message)


class _Invalid(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.verdict = Verdict("invalid", reason, message)


def _lookup(deps: Deps, kind: str, namespace: str, name: str, what: str) -> Resource:
    try:
        found = deps.store.get(kind, namespace, name)
    except NotFound:
        raise _Unresolved(
            f"{kind}NotFound", f"{what} {kind} {namespace}/{name} does not exist (yet)"
        ) from None
    if found["metadata"].get("namespace", "default") != namespace:
        # A store must never hand out another namespace's object for a name.
        raise _Invalid("CrossNamespaceReference", f"{what} {name} is not in namespace {namespace}")
    return found


def check_references(deps: Deps, run: Resource) -> tuple[Resource, Resource]:
    """The run's Agent and Model, in the run's namespace; raises when one is missing or invalid."""
    spec = run["spec"]
    namespace = run["metadata"].get("namespace", "default")
    agent = _lookup(deps, "Agent", namespace, spec["agentRef"]["name"], "agentRef:")
    model_name = (spec.get("overrides") or {}).get("modelRef", {}).get("name") or agent["spec"][
        "modelRef"
    ]["name"]
    model = _lookup(deps, "Model", namespace, model_name, "modelRef:")
    for tool in agent["spec"].get("tools") or []:
        if tool.get("mcpServer"):
            _lookup(deps, "MCPServer", namespace, tool["mcpServer"], "tools[].mcpServer:")
        if tool.get("agent"):
            _lookup(deps, "Agent", namespace, tool["agent"], "tools[].agent:")
    mode = spec.get("mode", "task")
    if mode == "task" and not (spec.get("task") or "").strip():
        raise _Invalid("InvalidSpec", "spec.task: required when spec.mode is task")
    limits = agent["spec"].get("limits") or {}
    for where, value in (
        ("spec.timeout", spec.get("timeout")),
        ("spec.idleTTL", spec.get("idleTTL")),
        (f"Agent {agent['metadata']['name']}: spec.limits.timeout", limits.get("timeout")),
    ):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise _Invalid("InvalidSpec", f"{where}: {exc}") from None
        if seconds is not None and seconds <= 0:
            # 0s would read as "no timeout" to anything that tests it for truth.
            raise _Invalid("InvalidSpec", f"{where}: must be longer than 0s")
    parent = spec.get("parent") or {}
    max_depth = (agent["spec"].get("subagents") or {}).get("maxDepth", 2)
    if parent and int(parent.get("spawnDepth", 0)) > max_depth:
        raise _Invalid(
            "SpawnDepthExceeded",
            f"spec.parent.spawnDepth {parent.get('spawnDepth')} exceeds the agent's "
            f"subagents.maxDepth {max_depth}",
        )
    if model["spec"].get("provider") == "scripted" and not model["spec"].get("script"):
        raise _Invalid("InvalidModel", f"Model {model_name}: provider scripted needs spec.script")
    return agent, model


def verdict_of(deps: Deps, run: Resource) -> Verdict:
    """Look the references up (the only I/O of validate) and say what they mean."""
    try:
        check_references(deps, run)
    except (_Unresolved, _Invalid) as exc:
        return exc.verdict
    return Verdict("ok")


def _deadline(view: RunView) -> float:
    try:
        timeout = parse_duration(view.spec.get("timeout"))
    except ValueError:
        timeout = None
    return timeout or PENDING_DEADLINE


def decide(view: RunView, verdict: Verdict) -> Outcome:
    """Accept, hold or reject a run that validate has not decided yet."""
    if view.phase not in ("", Phase.PENDING) or view.stage == Stage.FINALIZING:
        return Outcome()
    st = view.edit()
    if verdict.kind == "invalid":
        return _reject(view, st, verdict.reason, verdict.message)
    if verdict.kind == "unresolved":
        created = parse_time(view.run["metadata"].get("creationTimestamp")) or view.now
        deadline = _deadline(view)
        if view.now - created > deadline:
            message = f"{verdict.message.removesuffix(' (yet)')} after waiting {deadline:g}s"
            return _reject(view, st, verdict.reason, message)
        conds = {c["type"]: c for c in st.get("conditions", [])}
        if (
            view.phase == Phase.PENDING
            and conds.get("Accepted", {}).get("message") == verdict.message
        ):
            return Outcome()  # nothing new to say: no write on every re-announcement
        st["phase"] = Phase.PENDING
        set_condition(st, "Accepted", False, verdict.reason, verdict.message, view.now)
        return Outcome(st)
    uid = view.ref.uid
    # The run's uid is its trace id: every shape, traced or not, names the same trace.
    trace_id = uuid.UUID(uid).hex if uid else uuid.uuid4().hex
    # A server-mode run without a task serves at once; with one it works on the task first.
    serve = is_server(view.run) and not (view.spec.get("task") or "").strip()
    st.update(
        phase=Phase.SERVING if serve else Phase.RUNNING,
        stage=Stage.ACCEPTED,
        step=0,
        startedAt=rfc3339(view.now),
        traceID=st.get("traceID") or trace_id,
        observedGeneration=view.run["metadata"].get("generation", 1),
        tokenUsage={"input": 0, "output": 0, "total": 0, "cacheRead": 0, "cacheCreation": 0},
        toolCalls=0,
        pendingToolCalls=[],
    )
    st.pop("error", None)
    set_condition(st, "Accepted", True, "Validated", "spec and references are valid", view.now)
    return Outcome(st)


def _reject(view: RunView, st: dict[str, Any], reason: str, message: str) -> Outcome:
    st.update(
        stage=Stage.FINALIZING,
        error={"reason": reason, "message": message},
        outcome={"phase": Phase.FAILED, "reason": reason, "message": message},
    )
    set_condition(st, "Accepted", False, reason, message, view.now)
    return Outcome(st)


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Accept, hold (Pending) or reject the AgentRun the event carries."""
    obj = object_of(event)
    if obj.get("kind") != KIND:
        return []
    meta = obj.get("metadata") or {}
    if not meta.get("name"):
        raise MalformedEvent(f"event {event.get_id()}: AgentRun without metadata.name")
    ref = RunRef(meta.get("namespace", "default"), meta["name"], meta.get("uid", ""))
    run = get_run(deps, ref)
    if run is None:
        return []
    status = run.get("status") or {}
    verdict = Verdict("ok")
    if status.get("phase", "") in ("", Phase.PENDING) and status.get("stage") != Stage.FINALIZING:
        verdict = verdict_of(deps, run)
    result = advance(deps, RunRef.of(run), lambda view: decide(view, verdict), read=run)
    return follow_up(deps, result, event)
