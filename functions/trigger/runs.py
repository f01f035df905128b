"""The AgentRuns a trigger starts: their shape, their cancellation, their history limits."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Final

from functions.ports import API_VERSION, Conflict, Deps, NotFound, Resource
from functions.run.status import KIND as RUN_KIND
from functions.trigger.spec import CompiledTrigger, owner_reference
from functions.trigger.storm import EventRef

_RETRIES: Final = 16

__all__ = [
    "CANCEL",
    "EVENT_ANNOTATION",
    "KEY_LABEL",
    "STARTED_ANNOTATION",
    "TRIGGER_LABEL",
    "cancel",
    "prune_history",
    "run_object",
    "started_at",
]

TRIGGER_LABEL: Final = "baton.dev/trigger"
KEY_LABEL: Final = "baton.dev/trigger-key"
EVENT_ANNOTATION: Final = "baton.dev/trigger-event"
# When the trigger started the run (the clock's time, ms): orders a trigger's runs.
STARTED_ANNOTATION: Final = "baton.dev/triggered-at"
CANCEL: Final = "baton.dev/cancel"


def started_at(run: Resource) -> str:
    """When a trigger started ``run`` (for ordering a trigger's runs)."""
    meta = run["metadata"]
    return str((meta.get("annotations") or {}).get(STARTED_ANNOTATION) or "") + str(
        meta.get("creationTimestamp", "")
    )


def run_object(
    trigger: Resource, compiled: CompiledTrigger, name: str, digest: str,
    rendered: Mapping[str, Any], event: EventRef, started: str,
) -> Resource:  # fmt: skip
    meta, spec = trigger["metadata"], trigger["spec"]
    run_spec: dict[str, Any] = {"agentRef": {"name": spec["agentRef"]["name"]}}
    run_spec["task"] = rendered["task"]
    template = spec.get("run") or {}
    for field in ("overrides", "timeout"):
        if template.get(field) is not None:
            run_spec[field] = template[field]
    if rendered.get("routing"):
        run_spec["routing"] = rendered["routing"]
    if rendered.get("sessionKey"):
        run_spec["sessionKey"] = rendered["sessionKey"]
    labels = {
        **rendered.get("labels", {}),
        "baton.dev/agent": str(spec["agentRef"]["name"])[:63],
        TRIGGER_LABEL: str(meta["name"])[:63],
        KEY_LABEL: digest,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": RUN_KIND,
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {
                EVENT_ANNOTATION: f"{event.type} {event.source}#{event.id}"[:1000],
                STARTED_ANNOTATION: started,
            },
            "ownerReferences": [owner_reference(meta, block_deletion=False)],
        },
        "spec": run_spec,
    }


def cancel(deps: Deps, run: Resource, trigger: str) -> None:
    """Ask for a run's cancellation the way a person does (sweep acts on the annotation)."""
    for _ in range(_RETRIES):
        meta = run["metadata"]
        annotations = {**(meta.get("annotations") or {}), CANCEL: f"trigger/{trigger}"[:63]}
        try:
            deps.store.update({**run, "metadata": {**meta, "annotations": annotations}})
            return
        except Conflict:
            try:
                run = deps.store.get(RUN_KIND, meta["namespace"], meta["name"])
            except NotFound:
                return
        except NotFound:
            return


# When this process last pruned each trigger's history: listing a trigger's runs costs
# O(runs), so it happens at most once a PRUNE_INTERVAL per trigger, not on every start.
PRUNE_INTERVAL: Final = 60.0
_pruned: dict[tuple[int, str, str], float] = {}


def prune_history(deps: Deps, trigger: Resource) -> None:
    """Delete the oldest finished runs past the trigger's history limits (at most once a
    minute per trigger and process)."""
    meta = trigger["metadata"]
    key = (id(deps.store), str(meta["namespace"]), str(meta["name"]))
    now = deps.clock.now()
    if now - _pruned.get(key, -PRUNE_INTERVAL) < PRUNE_INTERVAL:
        return
    _pruned[key] = now
    spec = trigger["spec"]
    limits = {
        "Succeeded": int(spec.get("successfulRunsHistoryLimit", 10)),
        "Failed": int(spec.get("failedRunsHistoryLimit", 5)),
    }
    selector = {TRIGGER_LABEL: str(trigger["metadata"]["name"])[:63]}
    runs = deps.store.list(RUN_KIND, trigger["metadata"]["namespace"], selector)
    for phase, limit in limits.items():
        done = [r for r in runs if (r.get("status") or {}).get("phase") in _PHASES[phase]]
        done.sort(key=started_at)
        for old in done[: max(len(done) - limit, 0)]:
            with contextlib.suppress(NotFound):
                deps.store.delete(RUN_KIND, old["metadata"]["namespace"], old["metadata"]["name"])


_PHASES: Final = {"Succeeded": {"Succeeded"}, "Failed": {"Failed", "Cancelled"}}
