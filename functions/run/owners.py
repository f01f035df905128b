"""Who holds a claim: an owner id that names its process, so a dead owner is known at once.

    owner = new_owner()   # "<random>@<place>.<pid>.<start>"
    gone(owner)           # True once that process no longer runs

``place`` is a digest of this boot (``/proc/sys/kernel/random/boot_id``) and PID namespace
(``/proc/self/ns/pid``); ``start`` is the process's start time in clock ticks
(``/proc/<pid>/stat``), so a reused pid is another process. Processes that share a store on
one machine (the NATS shape's workers over one SQLite file) then see at once that a
SIGKILLed worker's claims are dead, instead of waiting out each lease: under repeated kills
those waits stacked up to runs half a minute late. Where the owner ran elsewhere (another
pod or machine, another PID namespace, no /proc) ``gone`` is False and the lease decides.
"""

from __future__ import annotations

import functools
import hashlib
import os
import uuid
from pathlib import Path

__all__ = ["gone", "new_owner"]


@functools.cache
def _place() -> str | None:
    """This boot and PID namespace, as a short digest (None without /proc)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    return hashlib.sha256(f"{boot}/{namespace}".encode()).hexdigest()[:12]


def _started(pid: int) -> str | None:
    """Process ``pid``'s start time in clock ticks; None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    if len(fields) < 20 or fields[0] in ("Z", "X"):  # fields[0] is the state
        return None
    return fields[19]  # field 22 of proc(5): starttime


_this: tuple[int, str | None] = (-1, None)  # (pid, "<place>.<pid>.<start>"): read once per process


def _this_process() -> str | None:
    """This process as an owner names it; /proc is read once per pid (a fork reads again)."""
    global _this
    pid = os.getpid()
    if _this[0] != pid:
        place = _place()
        start = _started(pid) if place is not None else None
        _this = (pid, f"{place}.{pid}.{start}" if start is not None else None)
    return _this[1]


def new_owner() -> str:
    """A fresh owner id for one delivery's claim, naming this process where it can."""
    token = uuid.uuid4().hex
    process = _this_process()
    return f"{token}@{process}" if process is not None else token


def gone(owner: str | None) -> bool:
    """True when ``owner`` ran in this place and its process no longer runs."""
    _, at, where = (owner or "").rpartition("@")
    if at and where == _this_process():
        return False  # this very process: alive, no /proc read needed
    place, _, process = where.partition(".")
    pid, _, start = process.partition(".")
    if not at or not pid.isdigit() or not start or place != _place():
        return False  # not named, or named elsewhere: only its lease can tell
    return _started(int(pid)) != start
