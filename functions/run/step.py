"""The one shared step of every transition: read, decide, commit once, publish what follows.

``advance`` reads the run, hands a ``RunView`` to a pure decision, and commits the
``Outcome`` it returns as one store change (status and journal entries together),
deciding again on a fresh read after a write conflict. ``follow_up`` turns the result
into events: after a commit, the needs the commit created (plus the outcome's
records); after a stale decision, every need of the run as stored, which repairs an
emit lost after an earlier commit, whoever's it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events.envelope import CloudEvent, RunRef, dedupe_key
from events.errors import TransientError
from functions.ports import Conflict, Deps, Resource
from functions.run.needs import identities, needs
from functions.run.status import get_run, rfc3339
from functions.run.transcript import Transcript
from functions.run.view import RunView

__all__ = ["Decision", "Outcome", "Result", "advance", "follow_up", "view_of"]

_MAX_CONFLICT_RETRIES: Final = 16


@dataclass(frozen=True)
class Outcome:
    """What a decision asks for: a new status and journal entries, or nothing (stale)."""

    status: dict[str, Any] | None = None
    journal: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Facts announced besides the needs (``tool.completed``): a record, nobody's trigger.
    records: tuple[CloudEvent, ...] = ()
    # Why nothing is written, for the caller: "stale" (the run moved on) or "busy" (a live
    # claim holds the work: its owner emits what follows, so nothing is re-published).
    idle: str = "stale"

    @property
    def writes(self) -> bool:
        """True when there is something to commit."""
        return self.status is not None


Decision = Callable[[RunView], Outcome]


@dataclass(frozen=True)
class Result:
    """A committed (or refused) decision: the run before and after, and the outcome."""

    before: Resource | None
    after: Resource | None
    outcome: Outcome

    @property
    def committed(self) -> bool:
        """True when the outcome was written."""
        return self.outcome.writes and self.after is not None


def view_of(deps: Deps, run: Resource, transcript: Transcript | None = None) -> RunView:
    """A view of ``run`` whose transcript is read from the store on first use."""
    return RunView(run, lambda: deps.store.read_journal(run), deps.clock.now(), transcript)


def advance(
    deps: Deps,
    ref: RunRef,
    decide: Decision,
    *,
    read: Resource | None = None,
    transcript: Transcript | None = None,
) -> Result:
    """Decide on the run as stored and commit the outcome once; re-decide on a conflict.

    ``read`` is the run as the caller just read it (the first attempt decides on it),
    ``transcript`` its journal if the caller has it. A run that is gone (or replaced
    under its name) is a stale decision.
    """
    for attempt in range(_MAX_CONFLICT_RETRIES):
        first = attempt == 0 and read is not None
        run = read if first else get_run(deps, ref)
        if run is None:
            return Result(None, None, Outcome())
        outcome = decide(view_of(deps, run, transcript if first else None))
        if outcome.status is None:
            return Result(run, run, outcome)
        status = dict(outcome.status)
        status["lastEventTime"] = rfc3339(deps.clock.now())
        try:
            written = deps.store.commit({**run, "status": status}, outcome.journal)
        except Conflict:
            continue
        return Result(run, written, outcome)
    raise TransientError(
        f"agentrun {ref.key}: {_MAX_CONFLICT_RETRIES} write conflicts in a row",
        reason="WriteConflict",
    )


def follow_up(
    deps: Deps, result: Result, incoming: BaseCloudEvent | None = None
) -> list[CloudEvent]:
    """The events to publish after ``result``: the commit's new needs, or a stale run's all."""
    if result.after is None:
        return []
    now = deps.clock.now()
    # The incoming event is never sent on again: it is being handled right here.
    skip = {dedupe_key(incoming)} if incoming is not None else set()
    if result.committed:
        if result.before:
            skip |= identities(result.before, now)
        return [*result.outcome.records, *needs(result.after, now, skip=skip)]
    if result.outcome.idle == "busy":
        return []
    return needs(result.after, now, skip=skip)
