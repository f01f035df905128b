"""Dropped events counted in memory and written with the trigger's status, coalesced.

A storm of events that start nothing (a condition rejecting 99 %, 20 updates of one
crash-looping Pod inside its window) must not cost a status write each: the counts of
one process are added to the trigger's status with its next write, and at most once a
second on their own. A process that ends loses at most that second of counts (counts
are what an SRE reads as a rate, not a ledger).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["FLUSH_INTERVAL", "Pending", "Tally", "tally_for"]

FLUSH_INTERVAL: Final = 1.0

_Key = tuple[str, str]


@dataclass
class Pending:
    """Counts not yet written for one trigger, and the last reason seen."""

    counts: Counter[str] = field(default_factory=Counter)
    last: dict[str, Any] | None = None


class Tally:
    """Pending drop counts of one store's triggers in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[_Key, Pending] = {}
        self._written: dict[_Key, float] = {}

    def add(self, key: _Key, reason: str, message: str, at: float) -> None:
        """Count one dropped event (``at``: when; formatted only when written)."""
        with self._lock:
            pending = self._pending.setdefault(key, Pending())
            pending.counts[reason] += 1
            pending.last = {"reason": reason, "message": message, "time": at}

    def take(self, key: _Key) -> Pending:
        """The pending counts of ``key`` (now no longer pending)."""
        with self._lock:
            return self._pending.pop(key, Pending())

    def give_back(self, key: _Key, pending: Pending) -> None:
        """Return counts whose write failed, to go with the next one."""
        with self._lock:
            mine = self._pending.setdefault(key, Pending())
            mine.counts.update(pending.counts)
            mine.last = mine.last or pending.last

    def written(self, key: _Key, now: float) -> None:
        """Note that ``key``'s status was written at ``now``."""
        with self._lock:
            self._written[key] = now

    def due(self, key: _Key, now: float) -> bool:
        """True when ``key`` has counts and its last write is a flush interval old."""
        with self._lock:
            if key not in self._pending:
                return False
            return now - self._written.get(key, 0.0) >= FLUSH_INTERVAL

    def pending(self) -> Iterator[_Key]:
        """Triggers with pending counts."""
        with self._lock:
            return iter(list(self._pending))


_tallies: dict[int, Tally] = {}
_tallies_lock = threading.Lock()


def tally_for(store: object) -> Tally:
    """The tally of ``store``'s triggers in this process (one per store object)."""
    with _tallies_lock:
        return _tallies.setdefault(id(store), Tally())
