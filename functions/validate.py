"""validate: an AgentRun was added; check its spec and references, then accept it.

Unknown references leave the run Pending with a reason (sweep re-drives it, so
it proceeds once the reference appears); an invalid run is sent to finalize as
failed; a valid one goes Running (Serving: a server-mode run with no task) and
``run.accepted`` starts the chain.
"""

from __future__ import annotations

import uuid
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.apiserver import object_of
from events.envelope import CloudEvent, RunRef, run_event
from events.errors import MalformedEvent
from functions.agentrun import KIND, Stage, get_run, rfc3339, set_condition, transact
from functions.ports import Deps, NotFound, Resource
from functions.session import is_server

__all__ = ["check_references", "handle"]

NAME = "validate"


class _Unresolved(Exception):
    """A reference that does not exist (yet)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class _Invalid(Exception):
    """A run that can never succeed as written."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _lookup(deps: Deps, kind: str, namespace: str, name: str, what: str) -> Resource:
    try:
        return deps.store.get(kind, namespace, name)
    except NotFound:
        raise _Unresolved(
            f"{kind}NotFound", f"{what} {kind} {namespace}/{name} does not exist (yet)"
        ) from None


def check_references(deps: Deps, run: Resource) -> tuple[Resource, Resource]:
    """The run's Agent and Model; raises when one is missing or the run is invalid."""
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
    status = (run or {}).get("status") or {}
    if run is None or status.get("phase", "") not in ("", "Pending"):
        return []
    if status.get("stage") == Stage.FINALIZING:
        return []  # already rejected; finalize (or sweep) takes it from here
    ref = RunRef.of(run)
    now = deps.clock.now()
    try:
        check_references(deps, run)
    except _Unresolved as exc:
        return _hold(deps, ref, exc.reason, exc.message, now)
    except _Invalid as exc:
        return _reject(deps, ref, exc.reason, exc.message, now)

    # The run's uid is its trace id: every shape, traced or not, names the same trace.
    trace_id = uuid.UUID(ref.uid).hex if ref.uid else uuid.uuid4().hex
    # A server-mode run without a task serves at once; with one it works on the task first.
    serve = is_server(run) and not (run["spec"].get("task") or "").strip()
    phase = "Serving" if serve else "Running"

    def accept(current: Resource, status: dict[str, Any]) -> bool:
        if status.get("phase", "") not in ("", "Pending"):
            return False
        status.update(
            phase=phase,
            stage=Stage.ACCEPTED,
            step=0,
            startedAt=rfc3339(now),
            traceID=status.get("traceID") or trace_id,
            observedGeneration=current["metadata"].get("generation", 1),
            tokenUsage={"input": 0, "output": 0, "total": 0, "cacheRead": 0, "cacheCreation": 0},
            toolCalls=0,
            pendingToolCalls=[],
        )
        status.pop("error", None)
        set_condition(status, "Accepted", True, "Validated", "spec and references are valid", now)
        return True

    written = transact(deps, ref, accept, read=run)
    if written is None:
        return []
    traceparent = f"00-{written['status']['traceID']}-{uuid.uuid4().hex[:16]}-01"
    return [run_event(types.RUN_ACCEPTED, NAME, ref, 0, traceparent=traceparent)]


def _hold(deps: Deps, ref: RunRef, reason: str, message: str, now: float) -> list[CloudEvent]:
    def pend(current: Resource, status: dict[str, Any]) -> bool:
        if status.get("phase", "") not in ("", "Pending"):
            return False
        conds = {c["type"]: c for c in status.get("conditions", [])}
        if status.get("phase") == "Pending" and conds.get("Accepted", {}).get("message") == message:
            return False  # nothing new to say: do not churn writes on every re-drive
        status["phase"] = "Pending"
        set_condition(status, "Accepted", False, reason, message, now)
        return True

    transact(deps, ref, pend)
    return []


def _reject(deps: Deps, ref: RunRef, reason: str, message: str, now: float) -> list[CloudEvent]:
    def fail(current: Resource, status: dict[str, Any]) -> bool:
        if status.get("phase", "") not in ("", "Pending"):
            return False
        status.update(stage=Stage.FINALIZING, error={"reason": reason, "message": message})
        set_condition(status, "Accepted", False, reason, message, now)
        return True

    if transact(deps, ref, fail) is None:
        return []
    return [run_event(types.RUN_FAILED, NAME, ref, 0, {"reason": reason, "message": message})]
