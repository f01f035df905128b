"""One database file's write queue and change signal, shared by this process's writers.

Writers queue instead of spinning in SQLite's busy handler, and share commits: one
writer at a time leads, committing every queued write in one transaction, then wakes
each writer whose write it carried and hands the lead to the next one waiting. A
commit wakes only the watches that follow what it changed (an ADDED watch sleeps
through status writes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["Pending", "Signal", "signal_for"]

_MAX_BATCH: Final = 128
Interest = frozenset[tuple[str, str]] | None  # (kind, change) pairs; None: every commit


@dataclass
class Pending:
    """One queued write and, once committed (or refused), its outcome."""

    work: Callable[[Any], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    # Set when the write is done, or when its writer is to lead the next batch. Made only
    # for a writer that queues behind a leader: one that leads at once never waits.
    wake: threading.Event | None = None


@dataclass(eq=False)
class _Waiter:
    """A watch asleep until a commit changes what it follows."""

    interest: Interest
    wake: threading.Event = field(default_factory=threading.Event)


@dataclass
class Signal:
    """Process-wide write queue, write lock and change signal for one database file."""

    lock: threading.Lock = field(default_factory=threading.Lock)  # held while committing
    queue: list[Pending] = field(default_factory=list)
    queue_lock: threading.Lock = field(default_factory=threading.Lock)
    leading: bool = False  # a writer is committing batches (under queue_lock)
    changed: threading.Lock = field(default_factory=threading.Lock)
    waiters: set[_Waiter] = field(default_factory=set)
    writes: int = 0
    # Commits per (kind, change type), so a watch wakes only for what it follows.
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    noted: set[tuple[str, str]] = field(default_factory=set)  # in the open transaction

    def submit(self, pending: Pending, commit: Callable[[list[Pending]], None]) -> None:
        """Return once ``pending`` is committed (or refused): by a leader, or leading."""
        with self.queue_lock:
            self.queue.append(pending)
            lead, self.leading = not self.leading, True
            if not lead:
                pending.wake = threading.Event()  # before any leader can look at it
        if pending.wake is not None:
            pending.wake.wait()  # done by the leader, or handed the lead
        if not pending.done:
            self._lead(pending, commit)

    def _lead(self, own: Pending, commit: Callable[[list[Pending]], None]) -> None:
        """Commit queued batches until ``own`` is in one; then hand the lead on."""
        try:
            while not own.done:
                with self.queue_lock:
                    batch = self.queue[:_MAX_BATCH]
                    del self.queue[:_MAX_BATCH]
                with self.lock:
                    commit(batch)
                for pending in batch:
                    if pending is not own:
                        _wake(pending)
        finally:
            with self.queue_lock:
                if self.queue:
                    _wake(self.queue[0])  # not done: its writer wakes to lead
                else:
                    self.leading = False

    def notify(self) -> None:
        """After a commit: count it, and wake the watches that follow what it changed."""
        with self.changed:
            self.writes += 1
            noted = self.noted
            for key in noted:
                self.counts[key] = self.counts.get(key, 0) + 1
            if noted:
                for waiter in self.waiters:
                    if waiter.interest is None or not waiter.interest.isdisjoint(noted):
                        waiter.wake.set()
            self.noted = set()

    def writes_seen(self, interest: Interest = None) -> int:
        """A counter of this process's commits (of ``interest`` only), to wait for the next."""
        if interest is None:
            return self.writes
        return sum(self.counts.get(key, 0) for key in interest)

    def wait_for_write(self, seen: int, timeout: float, interest: Interest = None) -> None:
        """Sleep until a commit after ``seen`` (of ``interest``), or ``timeout``."""
        waiter = _Waiter(interest)
        with self.changed:
            if self.writes_seen(interest) != seen:
                return
            self.waiters.add(waiter)
        try:
            waiter.wake.wait(timeout)
        finally:
            with self.changed:
                self.waiters.discard(waiter)


def _wake(pending: Pending) -> None:
    """Wake a queued writer (every writer but a leader's own was queued with an Event)."""
    assert pending.wake is not None, "a write queued without a way to wake its writer"
    pending.wake.set()


_SIGNALS: dict[str, Signal] = {}
_SIGNALS_LOCK = threading.Lock()


def signal_for(path: str) -> Signal:
    """The signal of the file at ``path``: two stores on one file in one process share it."""
    with _SIGNALS_LOCK:
        return _SIGNALS.setdefault(path, Signal())
