"""Storm control, decided on the trigger's status: dedupe windows and the rate limit.

A pure decision over the status as read; the caller writes the new status with the
resourceVersion it read (a conflict re-reads and decides again), then creates the run.
An event already recorded as the one that started a run is a redelivery: it converges
on that run (created again if the first attempt died between write and create) and
counts nothing twice.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from functions.run.status import parse_time, rfc3339

__all__ = ["Decision", "Drop", "EventRef", "count_drops", "decide", "key_digest"]

# Why an event started no run: the keys of status.eventsDropped.
Drop = Literal[
    "filtered",
    "deduplicated",
    "rateLimited",
    "forbidden",
    "templateError",
    "conditionError",
    "suspended",
    "invalidSpec",
]
MAX_DEDUPE_ENTRIES: Final = 1000  # open windows kept in status; the oldest goes first


@dataclass(frozen=True)
class EventRef:
    """The event being decided on, and the run it would start."""

    id: str
    source: str
    type: str
    run: str


@dataclass(frozen=True)
class Decision:
    """``start`` a run, ``converge`` on the one this event started, or ``drop`` it."""

    action: Literal["start", "converge", "drop"]
    status: dict[str, Any]
    reason: Drop | None = None
    message: str = ""


def key_digest(key: str) -> str:
    """A label-safe digest of a dedupe key (labels and map keys cannot hold any string)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _prune(status: dict[str, Any], now: float, period: float) -> None:
    dedupe = status.get("dedupe") or {}
    status["dedupe"] = {
        k: v for k, v in dedupe.items() if (parse_time(v.get("until")) or 0.0) > now
    }
    if period > 0:
        status["recentRuns"] = [
            t for t in status.get("recentRuns") or [] if (parse_time(t) or 0.0) > now - period
        ]
    else:
        status.pop("recentRuns", None)


def count_drops(status: dict[str, Any], drops: Mapping[str, int]) -> None:
    """Add ``drops`` (reason -> events) to ``status.eventsDropped``."""
    if not drops:
        return
    counts = dict(status.get("eventsDropped") or {})
    for reason, n in drops.items():
        counts[reason] = int(counts.get(reason, 0)) + n
    status["eventsDropped"] = counts


def decide(
    status: Mapping[str, Any],
    event: EventRef,
    *,
    key: str | None,
    window: float,
    rate_runs: int,
    rate_period: float,
    now: float,
) -> Decision:
    """Whether ``event`` starts its run, given the trigger's status at ``now``."""
    new = copy.deepcopy(dict(status))
    _prune(new, now, rate_period)
    last = new.get("lastEvent") or {}
    if new.get("lastRun") == event.run and last.get("id") == event.id:
        return Decision("converge", new)
    digest = key_digest(key) if key is not None else None
    if digest is not None and window > 0:
        entry = new["dedupe"].get(digest)
        if entry is not None:
            if entry.get("run") == event.run:
                return Decision("converge", new)
            return Decision(
                "drop",
                new,
                "deduplicated",
                f"key {key!r} started {entry.get('run')} until {entry.get('until')}",
            )
    if rate_runs and len(new.get("recentRuns") or []) >= rate_runs:
        return Decision(
            "drop", new, "rateLimited", f"{rate_runs} runs started in the last {rate_period:g}s"
        )
    stamp = rfc3339(now)
    new["runsStarted"] = int(new.get("runsStarted") or 0) + 1
    new["lastFired"] = stamp
    new["lastRun"] = event.run
    new["lastEvent"] = {"id": event.id, "source": event.source, "type": event.type}
    if digest is not None and window > 0:
        new["dedupe"][digest] = {"key": key[:253] if key else "", "run": event.run,
                                 "until": rfc3339(now + window)}  # fmt: skip
        while len(new["dedupe"]) > MAX_DEDUPE_ENTRIES:
            new["dedupe"].pop(next(iter(new["dedupe"])))
    if rate_runs:
        new["recentRuns"] = [*(new.get("recentRuns") or []), stamp][-rate_runs:]
    return Decision("start", new)
