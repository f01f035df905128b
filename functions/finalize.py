"""finalize: write the run's terminal phase and announce it with ``run.finished``.

A sub-agent run's answer (or failure) becomes its parent's tool result here, and
the parent resumes when it was the last call of its step. A server-mode run
completes only while it is still idle (sweep's IdleTimeout races new input).
"""

from __future__ import annotations

from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.envelope import CloudEvent, RunRef, data_of, run_event, run_ref_of
from functions.agentrun import (
    KIND,
    TERMINAL_PHASES,
    Stage,
    get_run,
    is_terminal,
    parse_time,
    rfc3339,
    set_condition,
    transact,
)
from functions.ports import Deps, NotFound, Resource, ToolResult
from functions.session import is_server, next_input
from functions.toolstep import close_call, record_result

__all__ = ["handle"]

NAME = "finalize"
PHASES: Final = {
    types.RUN_COMPLETED: "Succeeded",
    types.RUN_FAILED: "Failed",
    types.RUN_TIMEDOUT: "Failed",
    types.RUN_CANCELLED: "Cancelled",
}
DEFAULT_REASONS: Final = {
    types.RUN_COMPLETED: ("Completed", "the agent answered"),
    types.RUN_FAILED: ("Failed", "the run failed"),
    types.RUN_TIMEDOUT: ("Timeout", "the run exceeded its timeout"),
    types.RUN_CANCELLED: ("Cancelled", "the run was cancelled"),
}


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Move the run to Succeeded, Failed or Cancelled exactly once."""
    ref = run_ref_of(event)
    phase = PHASES.get(event.get_type())
    if phase is None:
        return []
    data = data_of(event)
    now = deps.clock.now()
    reason, message = DEFAULT_REASONS[event.get_type()]
    reason = str(data.get("reason") or reason)
    message = str(data.get("message") or message)

    server = False

    def terminate(current: Resource, st: dict[str, Any]) -> bool:
        nonlocal server
        if st.get("phase") in TERMINAL_PHASES:
            return False
        server = is_server(current)
        if server and event.get_type() == types.RUN_COMPLETED and not _idle(st, data):
            return False  # input came after sweep saw the session idle: it serves on
        started = parse_time(st.get("startedAt")) or parse_time(
            current["metadata"].get("creationTimestamp")
        )
        st.update(phase=phase, stage=Stage.DONE, completedAt=rfc3339(now), pendingToolCalls=[])
        # max: replicas' clocks differ, and the CRD refuses a negative duration
        st["durationMs"] = max(round((now - started) * 1000), 0) if started else 0
        if phase == "Succeeded":
            st["result"] = str(data.get("result", st.get("result", "")))
            st.pop("error", None)
        else:
            st["error"] = st.get("error") or {"reason": reason, "message": message}
        final = st.get("error") or {"reason": reason, "message": message}
        ok = phase == "Succeeded"
        set_condition(
            st,
            "Ready",
            ok,
            reason if ok else final["reason"],
            message if ok else final["message"],
            now,
        )
        return True

    written = transact(deps, ref, terminate)
    if written is None:
        # Already terminal: the first delivery may have died before resuming the
        # parent, and nothing else would (sweep skips terminal runs). Idempotent.
        done = get_run(deps, ref)
        return _resume_parent(deps, done) if done is not None and is_terminal(done) else []
    st = written["status"]
    finished = run_event(
        types.RUN_FINISHED,
        NAME,
        ref,
        int(st.get("step", 0)),
        {
            "phase": st["phase"],
            "result": st.get("result", ""),
            "error": st.get("error"),
            "tokenUsage": st.get("tokenUsage"),
            "routing": written["spec"].get("routing"),
            **({"mode": "server"} if server else {}),
        },
        traceparent=event.get_extension("traceparent"),
    )
    return [finished, *_resume_parent(deps, written)]


def _idle(st: dict[str, Any], data: dict[str, Any]) -> bool:
    """A server-mode run may complete only while it still waits, at the step sweep saw."""
    return (
        st.get("phase") == "Serving"
        and st.get("stage") == Stage.INPUT
        and not next_input(st)
        and st.get("step") == data.get("step")
    )


def _resume_parent(deps: Deps, child: Resource) -> list[CloudEvent]:
    parent = child["spec"].get("parent") or {}
    if not parent.get("runName") or not parent.get("toolCallId"):
        return []
    namespace = child["metadata"].get("namespace", "default")
    try:
        run = deps.store.get(KIND, namespace, parent["runName"])
    except NotFound:
        return []
    if parent.get("uid") and run["metadata"]["uid"] != parent["uid"]:
        return []
    pst = run.get("status") or {}
    step = int(pst.get("step", 0))
    if pst.get("stage") != Stage.TOOLS or parent["toolCallId"] not in (
        pst.get("pendingToolCalls") or []
    ):
        return []  # the parent no longer waits for this call (done, or ended meanwhile)
    st = child["status"]
    if st["phase"] == "Succeeded":
        result = ToolResult(st.get("result", ""))
    else:
        err = st.get("error") or {}
        result = ToolResult(
            f"sub-agent {child['metadata']['name']} {st['phase'].lower()}: "
            f"{err.get('message', '')}",
            is_error=True,
        )
    record_result(deps, run, step, parent["toolCallId"], "agent", result)
    return close_call(deps, RunRef.of(run), step, parent["toolCallId"], NAME)
