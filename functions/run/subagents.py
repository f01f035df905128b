"""Sub-agent runs and their parent: a delegated call closes with the child's end.

A parent's record holds which child run each delegated call went to
(``status.delegations[call] = {name, uid}``, written in the commit that recorded the
spawn). A child resumes its parent only through that record: a run whose
``spec.parent`` merely names another run (or an older incarnation of it) changes
nothing there.
"""

from __future__ import annotations

from typing import Any

from events.envelope import RunRef
from functions.ports import Deps, NotFound, Resource, ToolResult
from functions.run.status import KIND, Phase, Stage
from functions.run.step import Outcome, Result, advance
from functions.run.toolstep import close_call, completed_event, result_entry
from functions.run.view import RunView

__all__ = ["child_result", "decide_resume", "resume_parent", "vanished"]


def child_result(child: Resource) -> ToolResult:
    """A finished sub-agent run as its parent's tool result."""
    st = child.get("status") or {}
    if st.get("phase") == Phase.SUCCEEDED:
        return ToolResult(str(st.get("result", "")))
    err = st.get("error") or {}
    return ToolResult(
        f"sub-agent {child['metadata']['name']} {str(st.get('phase', '')).lower()}: "
        f"{err.get('message', '')}",
        is_error=True,
    )


def decide_resume(view: RunView, child: Resource) -> Outcome:
    """Close the parent's call that ``child`` held, only if the parent delegated it to ``child``."""
    call_id = str((child["spec"].get("parent") or {}).get("toolCallId", ""))
    delegated = (view.status.get("delegations") or {}).get(call_id) or {}
    if (
        view.stage != Stage.TOOLS
        or not call_id
        or call_id not in (view.status.get("pendingToolCalls") or [])
        or delegated.get("uid") != child["metadata"].get("uid")
    ):
        return Outcome()
    st = view.edit()
    step = view.step
    close_call(st, step, call_id, view.now)
    # A result recorded by an earlier resume whose status write did not land is kept.
    journal = result_entry(step, call_id, "agent", child_result(child))
    return Outcome(st, journal, (completed_event(view.ref, step, call_id),))


def resume_parent(deps: Deps, child: Resource) -> Result | None:
    """Hand a finished child's answer to its parent (idempotent; sweep calls it too)."""
    parent = child["spec"].get("parent") or {}
    if not parent.get("runName") or not parent.get("toolCallId"):
        return None
    namespace = child["metadata"].get("namespace", "default")
    try:
        run = deps.store.get(KIND, namespace, parent["runName"])
    except NotFound:
        return None
    return advance(deps, RunRef.of(run), lambda view: decide_resume(view, child), read=run)


def vanished(run: Resource, call_id: str, child_ref: dict[str, Any]) -> Resource:
    """A stand-in for a sub-agent run deleted before it ended: the call fails, the run goes on."""
    return {
        "metadata": {"name": child_ref.get("name", ""), "uid": child_ref.get("uid")},
        "spec": {"parent": {"runName": run["metadata"]["name"], "toolCallId": call_id}},
        "status": {
            "phase": Phase.FAILED,
            "error": {"message": "the sub-agent run was deleted before it finished"},
        },
    }
