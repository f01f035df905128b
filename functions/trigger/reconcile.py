"""An AgentTrigger created or changed: compile it and say on its status whether it works.

Without an admission webhook, ``kubectl apply`` stores whatever passes the CRD schema;
this is where such a trigger learns it cannot work: ``Ready=False`` with the field and
position of the problem (``baton apply`` refuses the same trigger before storing it).
"""

from __future__ import annotations

from typing import Any, Final

from events.errors import BatonError
from functions.ports import Conflict, Deps, NotFound, Resource, StoreError
from functions.run.status import set_condition
from functions.trigger.knative import reconcile_objects
from functions.trigger.spec import KIND, CompiledTrigger, SpecError, compiled

__all__ = ["READY", "describe_source", "reconcile"]

READY: Final = "Ready"
_RETRIES: Final = 8


def describe_source(source: str, spec: dict[str, Any], namespace: str) -> str:
    """One line saying what the trigger listens to."""
    if source == "kubernetes":
        where = ", ".join(spec.get("namespaces") or [namespace])
        changes = "/".join(spec.get("changes") or ("add", "update", "delete"))
        return f"{changes} of {spec.get('apiVersion')} {spec.get('kind')} in {where}"
    if source == "cloudEvent":
        shown = {k: v for k, v in spec.items() if k != "extensions" and v}
        shown.update(spec.get("extensions") or {})
        return "CloudEvents " + (", ".join(f"{k}={v}" for k, v in shown.items()) or "(any)")
    if source == "nats":
        return f"NATS subject {spec.get('subject')}"
    return f"schedule {spec.get('cron')} ({spec.get('timeZone') or 'UTC'})"


def reconcile(deps: Deps, name: tuple[str, str]) -> Resource | None:
    """Compile the stored trigger and write its Ready condition when that changed."""
    for _ in range(_RETRIES):
        try:
            trigger = deps.store.get(KIND, *name)
        except NotFound:
            return None
        meta = trigger["metadata"]
        status = dict(trigger.get("status") or {})
        generation = meta.get("generation")
        current = next((c for c in status.get("conditions") or [] if c["type"] == READY), None)
        if (
            current is not None
            and current["status"] == "True"
            and status.get("observedGeneration") == generation
        ):
            return trigger  # nothing new: status writes also come back here as updates
        result: CompiledTrigger | None = None
        try:
            result = compiled(trigger)
            ok, reason = True, "Ready"
            message = describe_source(
                result.source, dict(result.source_spec), str(meta["namespace"])
            )
        except SpecError as exc:
            ok, reason, message = False, "InvalidSpec", str(exc)
        try:
            reconcile_objects(deps, trigger, result)
        except (BatonError, StoreError) as exc:
            ok, reason, message = False, "SourceFailed", f"Knative objects: {exc}"
        if (
            current is not None
            and current["status"] == ("True" if ok else "False")
            and current.get("message") == message
            and status.get("observedGeneration") == generation
        ):
            return trigger
        set_condition(status, READY, ok, reason, message, deps.clock.now())
        if generation is not None:
            status["observedGeneration"] = generation
        try:
            return deps.store.update_status({**trigger, "status": status})
        except Conflict:
            continue
        except NotFound:
            return None
    return None
