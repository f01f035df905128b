"""sweep: the level-triggered safety net, driven by ``dev.baton.tick``.

Each run is looked at on its own (one that cannot be evaluated gets a ``Swept``
condition with the reason; the others proceed):

- a person's annotations become the run's record (``baton.dev/cancel`` -> the outcome
  Cancelled; ``baton.dev/approve``/``reject`` -> ``status.approvals``), and the record
  then says which events follow;
- timeouts and a server-mode session's idle end are decided and recorded the same way;
- a run that made no progress for ``QUIET_SECONDS`` gets every event it still needs
  published again (``functions.run.needs``: same ids, so buses drop what they had;
  claims keep in-flight calls from running twice, so the wait can be short);
- a run nobody has validated yet is announced again (a Pending one every
  ``PENDING_RECHECK_SECONDS``, with one id per slot so repeats dedupe);
- a delegated call whose sub-agent run ended (or vanished) resumes its parent;
- finished runs with ``cleanup: delete`` go, and each agent keeps ``runHistoryLimit``.

A tick carries no settings: how long sweep waits is its own business, not the sender's.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from typing import Final

from cloudevents.core.base import BaseCloudEvent

from events.apiserver import resource_event
from events.envelope import CloudEvent, RunRef
from functions.ports import Deps, NotFound, Resource
from functions.run.needs import needs
from functions.run.session import idle_ttl, next_input
from functions.run.status import (
    KIND,
    TERMINAL_PHASES,
    Phase,
    Stage,
    is_terminal,
    parse_duration,
    parse_time,
    set_condition,
)
from functions.run.steering import APPROVE, APPROVED_BY, CANCEL, REJECT
from functions.run.step import Outcome, Result, advance, follow_up
from functions.run.subagents import decide_resume, vanished
from functions.run.view import RunView

__all__ = ["QUIET_SECONDS", "decide", "handle"]

NAME = "sweep"
DEFAULT_HISTORY_LIMIT: Final = 50
QUIET_SECONDS: Final = 2.0
UNSEEN_SECONDS: Final = 1.0
PENDING_RECHECK_SECONDS: Final = 10.0


def _ids(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def _timeout(view: RunView, agent: Resource | None) -> float | None:
    if view.spec.get("timeout"):
        return parse_duration(view.spec["timeout"])
    limits = ((agent or {}).get("spec") or {}).get("limits") or {}
    return parse_duration(limits.get("timeout"))


def _end(view: RunView, phase: str, reason: str, message: str) -> Outcome:
    st = view.edit()
    st.update(
        stage=Stage.FINALIZING, outcome={"phase": phase, "reason": reason, "message": message}
    )
    if phase != Phase.SUCCEEDED:
        st["error"] = {"reason": reason, "message": message}
    return Outcome(st)


def decide(view: RunView, agent: Resource | None) -> Outcome:
    """What the clock and a person's annotations decide for one live run, as a record."""
    st, now = view.status, view.now
    if view.phase in TERMINAL_PHASES or view.stage == Stage.FINALIZING:
        return Outcome()
    notes = view.run["metadata"].get("annotations") or {}
    if notes.get(CANCEL):
        by = notes[CANCEL] if notes[CANCEL] not in ("true", "yes") else "a user"
        return _end(view, Phase.CANCELLED, "Cancelled", f"cancelled by {by}")
    waiting = set(st.get("awaitingApproval") or [])
    decided = {
        **{c: True for c in _ids(notes.get(APPROVE))},
        **{c: False for c in _ids(notes.get(REJECT))},
    }
    approvals = dict(st.get("approvals") or {})
    fresh = {c: ok for c, ok in decided.items() if c in waiting and c not in approvals}
    if fresh:
        by = notes.get(APPROVED_BY) or "a reviewer"
        new = view.edit()
        new["approvals"] = {
            **approvals,
            **{c: {"approved": ok, "by": by} for c, ok in fresh.items()},
        }
        return Outcome(new)
    if view.phase in ("", Phase.PENDING):
        return Outcome()  # validate decides (and fails a run that waited too long)
    if view.phase == Phase.SERVING and view.stage == Stage.INPUT:
        ttl = idle_ttl(view.run)
        idle = now - (parse_time(st.get("lastEventTime")) or now)
        if idle > ttl and not next_input(st):
            message = f"no input for {ttl:g}s (idleTTL): the session ended"
            return _end(view, Phase.SUCCEEDED, "IdleTimeout", message)
        return Outcome()
    timeout = _timeout(view, agent)
    # Server mode: the timeout bounds each exchange, not the whole session.
    started = parse_time(st.get("exchangeStartedAt") or st.get("startedAt"))
    if timeout and started and now - started > timeout:
        return _end(view, Phase.FAILED, "Timeout", f"the run exceeded its timeout ({timeout:g}s)")
    return Outcome()


def _announce(run: Resource, now: float) -> list[CloudEvent]:
    """The AgentRun's add event again, for a run validate has not taken up (yet)."""
    st = run.get("status") or {}
    created = parse_time(run["metadata"].get("creationTimestamp")) or now
    if st.get("phase") == Phase.PENDING or now - created > UNSEEN_SECONDS:
        slot = int(now // PENDING_RECHECK_SECONDS)
        return [resource_event("ADDED", run, id_=f"{run['metadata']['uid']}/announce/{slot}")]
    return []


def _children(deps: Deps, run: Resource) -> list[CloudEvent]:
    """Resume the parent for every delegated call whose sub-agent run ended or vanished."""
    st = run.get("status") or {}
    out: list[CloudEvent] = []
    for call_id, child_ref in (st.get("delegations") or {}).items():
        if call_id not in (st.get("pendingToolCalls") or []):
            continue
        try:
            child = deps.store.get(KIND, run["metadata"]["namespace"], child_ref.get("name", ""))
        except NotFound:
            child = vanished(run, call_id, child_ref)
        if child["metadata"].get("uid") != child_ref.get("uid"):
            child = vanished(run, call_id, child_ref)
        if not is_terminal(child):
            continue
        resumed = _resume(deps, run, child)
        if resumed.committed:
            out.extend(follow_up(deps, resumed))
    return out


def _resume(deps: Deps, run: Resource, child: Resource) -> Result:
    return advance(deps, RunRef.of(run), lambda view: decide_resume(view, child))


def _check(deps: Deps, run: Resource, agent: Resource | None) -> list[CloudEvent]:
    st = run.get("status") or {}
    now = deps.clock.now()
    if st.get("phase", "") in ("", Phase.PENDING) and st.get("stage") != Stage.FINALIZING:
        decided = advance(deps, RunRef.of(run), lambda view: decide(view, agent), read=run)
        return follow_up(deps, decided) if decided.committed else _announce(run, now)
    decided = advance(deps, RunRef.of(run), lambda view: decide(view, agent), read=run)
    if decided.committed:
        return follow_up(deps, decided)
    out = _children(deps, run) if st.get("delegations") else []
    last = parse_time(st.get("lastEventTime")) or now
    # Input queued by another process (``baton send`` writes only the store) wakes at once.
    queued = st.get("phase") == Phase.SERVING and next_input(st)
    if not out and (queued or now - last > QUIET_SECONDS):
        out = needs(run, now)
    return out


def _housekeep(
    deps: Deps, finished: list[Resource], agents: dict[tuple[str, str], Resource | None]
) -> None:
    by_agent: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for run in finished:
        if run["spec"].get("cleanup") == "delete":
            _delete(deps, run)
            continue
        by_agent[
            (run["metadata"].get("namespace", "default"), run["spec"]["agentRef"]["name"])
        ].append(run)
    for key, runs in by_agent.items():
        agent = agents.get(key)
        limit = int((agent or {}).get("spec", {}).get("runHistoryLimit", DEFAULT_HISTORY_LIMIT))
        runs.sort(key=lambda r: r["status"].get("completedAt", ""))
        for old in runs[: max(len(runs) - limit, 0)]:
            _delete(deps, old)


def _delete(deps: Deps, run: Resource) -> None:
    meta = run["metadata"]
    with contextlib.suppress(NotFound):
        deps.store.delete(KIND, meta.get("namespace", "default"), meta["name"])


def _unsweepable(deps: Deps, run: Resource, exc: Exception) -> None:
    """Say on the run why sweep cannot look after it (once per reason), and go on."""
    message = f"sweep cannot evaluate this run: {type(exc).__name__}: {exc}"[:500]

    def note(view: RunView) -> Outcome:
        conds = {c["type"]: c for c in view.status.get("conditions", [])}
        if conds.get("Swept", {}).get("message") == message:
            return Outcome()
        st = view.edit()
        set_condition(st, "Swept", False, "SweepFailed", message, view.now)
        return Outcome(st)

    with contextlib.suppress(Exception):
        advance(deps, RunRef.of(run), note)


def handle(event: BaseCloudEvent, deps: Deps) -> list[CloudEvent]:
    """Look after every run, each on its own; prune finished runs."""
    runs = deps.store.list(KIND)
    agents: dict[tuple[str, str], Resource | None] = {}
    out: list[CloudEvent] = []
    finished = []
    for run in runs:
        if is_terminal(run):
            finished.append(run)
            continue
        key = (run["metadata"].get("namespace", "default"), run["spec"]["agentRef"]["name"])
        try:
            if key not in agents:
                try:
                    agents[key] = deps.store.get("Agent", *key)
                except NotFound:
                    agents[key] = None
            out.extend(_check(deps, run, agents[key]))
        except Exception as exc:  # one bad run must not stop sweep for everyone
            logging.getLogger(__name__).warning(
                "sweep: run %s/%s: %s", key[0], run["metadata"]["name"], exc
            )
            _unsweepable(deps, run, exc)
    _housekeep(deps, finished, agents)
    return out
