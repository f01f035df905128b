"""Offering one event to one trigger: condition, templates, storm control, the run.

Order of effects: the trigger's status is written first (conditionally, with the
resourceVersion read), the AgentRun created second, under a name derived from the
trigger and the event (source + id). A redelivered event, or a crash between the two
writes, converges on the same run; nothing starts twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any, Final

from events.errors import BatonError, PermanentError, TransientError
from functions.expressions.condition import ConditionError
from functions.expressions.template import TemplateError
from functions.ports import Conflict, Deps, Invalid, NotFound, Resource, StoreError
from functions.run.status import KIND as RUN_KIND
from functions.run.status import is_terminal, rfc3339, set_condition
from functions.trigger.runs import (
    KEY_LABEL,
    TRIGGER_LABEL,
    cancel,
    prune_history,
    run_object,
)
from functions.trigger.spec import KIND, CompiledTrigger
from functions.trigger.storm import EventRef, count_drops, decide, key_digest
from functions.trigger.tally import Pending, tally_for

__all__ = ["flush", "offer", "run_name_for"]

RENDERED: Final = "TaskRendered"
_RETRIES: Final = 16
log = logging.getLogger("baton.trigger")


def run_name_for(trigger: Resource, event_source: str, event_id: str) -> str:
    """A DNS-safe run name, the same for every delivery of one event to one trigger."""
    meta = trigger["metadata"]
    basis = f"{meta.get('uid', '')}\n{event_source}\n{event_id}"
    digest = hashlib.sha256(basis.encode()).hexdigest()[:12]
    return f"{str(meta['name'])[:40].rstrip('-.')}-{digest}"


def _tkey(trigger: Resource) -> tuple[str, str]:
    return (str(trigger["metadata"]["namespace"]), str(trigger["metadata"]["name"]))


def _drop(deps: Deps, trigger: Resource, reason: str, message: str) -> str:
    tally = tally_for(deps.store)
    now = deps.clock.now()
    tally.add(_tkey(trigger), reason, message, now)
    if tally.due(_tkey(trigger), now):
        flush(deps, _tkey(trigger))
    return reason


def _write(deps: Deps, trigger: Resource, status: dict[str, Any], pending: Pending) -> Resource:
    count_drops(status, pending.counts)
    if pending.last is not None:
        last = pending.last
        status["lastDropped"] = {
            "reason": last["reason"],
            "message": str(last["message"])[:1000],
            "time": rfc3339(float(last["time"])),
        }
    written = deps.store.update_status({**trigger, "status": status})
    tally_for(deps.store).written(_tkey(trigger), deps.clock.now())
    return written


def flush(deps: Deps, key: tuple[str, str]) -> None:
    """Write ``key``'s pending drop counts to its status now."""
    tally = tally_for(deps.store)
    pending = tally.take(key)
    if not pending.counts:
        return
    for _ in range(_RETRIES):
        try:
            trigger = deps.store.get(KIND, *key)
            _write(deps, trigger, dict(trigger.get("status") or {}), pending)
            return
        except NotFound:
            return  # deleted: its counts go with it
        except Conflict:
            continue
        except (BatonError, StoreError) as exc:
            # The event that asked for this flush was handled already: a failed write
            # must not fail it (a retry would count it twice); the counts wait instead.
            log.warning("trigger %s/%s: drop counts not written: %s", *key, exc)
            break
    tally.give_back(key, pending)


def _template_failed(deps: Deps, trigger: Resource, message: str) -> str:
    """A template that cannot render this event: said on the trigger at once."""
    tally = tally_for(deps.store)
    tally.add(_tkey(trigger), "templateError", message, deps.clock.now())
    for attempt in range(_RETRIES):
        current = trigger if attempt == 0 else deps.store.get(KIND, *_tkey(trigger))
        status = dict(current.get("status") or {})
        set_condition(status, RENDERED, False, "TemplateError", message, deps.clock.now())
        pending = tally.take(_tkey(trigger))
        try:
            _write(deps, current, status, pending)
            return "templateError"
        except Conflict:
            tally.give_back(_tkey(trigger), pending)
    return "templateError"


def _render(compiled: CompiledTrigger, attributes: Mapping[str, Any], data: Any) -> dict[str, Any]:
    rendered: dict[str, Any] = {"task": compiled.task.render(attributes, data)}
    rendered["labels"] = {k: t.render(attributes, data)[:63] for k, t in compiled.labels.items()}
    rendered["routing"] = {k: t.render(attributes, data) for k, t in compiled.routing.items()}
    if compiled.session_key is not None:
        rendered["sessionKey"] = compiled.session_key.render(attributes, data)
    return rendered


def _active_runs(deps: Deps, trigger: Resource, digest: str, name: str) -> list[Resource]:
    selector = {TRIGGER_LABEL: str(trigger["metadata"]["name"])[:63], KEY_LABEL: digest}
    runs = deps.store.list(RUN_KIND, trigger["metadata"]["namespace"], selector)
    return [r for r in runs if not is_terminal(r) and r["metadata"]["name"] != name]


def offer(
    deps: Deps,
    trigger: Resource,
    compiled: CompiledTrigger,
    attributes: Mapping[str, Any],
    data: Any,
) -> str:
    """Start the run this event asks of ``trigger``, or count why not; the outcome."""
    if trigger["spec"].get("suspend"):
        return _drop(deps, trigger, "suspended", "the trigger is suspended")
    if compiled.when is not None:
        try:
            if not compiled.when.evaluate(attributes, data):
                return _drop(deps, trigger, "filtered", "when is false")
        except ConditionError as exc:
            return _drop(deps, trigger, "conditionError", str(exc))
    try:
        key = compiled.dedupe_key.render(attributes, data) if compiled.dedupe_key else None
        rendered = _render(compiled, attributes, data)
    except TemplateError as exc:
        return _template_failed(deps, trigger, str(exc))
    event = EventRef(
        id=str(attributes.get("id", "")),
        source=str(attributes.get("source", "")),
        type=str(attributes.get("type", "")),
        run="",
    )
    name = run_name_for(trigger, event.source, event.id)
    event = EventRef(event.id, event.source, event.type, name)
    digest = key_digest(key or "")
    run = run_object(trigger, compiled, name, digest, rendered, event, rfc3339(deps.clock.now()))
    policy = trigger["spec"].get("concurrencyPolicy") or "Allow"
    active = _active_runs(deps, trigger, digest, name) if policy != "Allow" else []
    if policy == "Forbid" and active:
        names = ", ".join(r["metadata"]["name"] for r in active)
        return _drop(deps, trigger, "forbidden", f"{names} still running (Forbid)")
    outcome = _commit(deps, trigger, compiled, key, event)
    if outcome != "start" and outcome != "converge":
        return outcome
    try:
        deps.store.create(run)
    except Conflict:
        pass  # this event's run exists: a redelivery
    except Invalid as exc:
        raise PermanentError(f"trigger {_tkey(trigger)}: run: {exc}", reason="InvalidRun") from exc
    if outcome == "start":
        for old in active if policy == "Replace" else []:
            cancel(deps, old, str(trigger["metadata"]["name"]))
        prune_history(deps, trigger)
    return outcome


def _commit(
    deps: Deps, trigger: Resource, compiled: CompiledTrigger, key: str | None, event: EventRef
) -> str:
    """Decide on the trigger's status and write it; re-read and decide again on conflict."""
    tally = tally_for(deps.store)
    current = trigger
    for attempt in range(_RETRIES):
        if attempt:
            try:
                current = deps.store.get(KIND, *_tkey(trigger))
            except NotFound:
                return "deleted"
        now = deps.clock.now()
        decision = decide(
            current.get("status") or {},
            event,
            key=key,
            window=compiled.dedupe_window,
            rate_runs=compiled.rate_runs,
            rate_period=compiled.rate_period,
            now=now,
        )
        if decision.action == "converge":
            return "converge"
        if decision.action == "drop":
            assert decision.reason is not None
            return _drop(deps, trigger, decision.reason, decision.message)
        set_condition(decision.status, RENDERED, True, "Rendered", "", now)
        pending = tally.take(_tkey(trigger))
        try:
            _write(deps, current, decision.status, pending)
            return "start"
        except Conflict:
            tally.give_back(_tkey(trigger), pending)
        except NotFound:
            return "deleted"
        except BaseException:
            tally.give_back(_tkey(trigger), pending)  # the counts go with the retry's write
            raise
    raise TransientError(f"trigger {_tkey(trigger)}: write conflicts", reason="WriteConflict")
