"""An AgentRun's status vocabulary: phases, stages, conditions, durations and times.

How a transition reads, decides and writes is ``functions.run.step``; this module
holds the words its decisions use.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, Final

from events.envelope import RunRef
from functions.ports import Deps, NotFound, Resource

__all__ = [
    "DURATION_PATTERN",
    "KIND",
    "TERMINAL_PHASES",
    "Phase",
    "Stage",
    "get_run",
    "is_terminal",
    "parse_duration",
    "parse_time",
    "rfc3339",
    "set_condition",
]

KIND: Final = "AgentRun"


class Phase:
    """An AgentRun's phase (``status.phase``), as a person reads it."""

    PENDING: Final = "Pending"  # waiting for a reference (Agent, Model, MCPServer)
    RUNNING: Final = "Running"
    AWAITING_APPROVAL: Final = "AwaitingApproval"
    SERVING: Final = "Serving"  # server mode: waiting for the next input
    SUCCEEDED: Final = "Succeeded"
    FAILED: Final = "Failed"
    CANCELLED: Final = "Cancelled"


TERMINAL_PHASES: Final = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED})


class Stage:
    """Where a Running run is inside its current step."""

    ACCEPTED: Final = "Accepted"  # validated; context not yet prepared
    MODEL: Final = "Model"  # waiting for the model reply of ``status.step``
    TOOLS: Final = "Tools"  # waiting for ``status.pendingToolCalls``
    FINALIZING: Final = "Finalizing"  # outcome recorded (result or error), phase not yet terminal
    DONE: Final = "Done"
    INPUT: Final = "Input"  # server mode (phase Serving): waiting for the next input


# Every commit stamps a time, and a claim its lease's end (6 s later): each second is
# formatted once, and the few seconds in use at a time stay cached.
_seconds: dict[int, str] = {}


def rfc3339(ts: float) -> str:
    """Seconds since the epoch as a Kubernetes timestamp (UTC, millisecond precision)."""
    second = math.floor(ts)
    prefix = _seconds.get(second)
    if prefix is None:
        if len(_seconds) >= 64:
            _seconds.clear()
        prefix = _seconds[second] = datetime.fromtimestamp(second, tz=UTC).strftime(
            "%Y-%m-%dT%H:%M:%S."
        )
    return f"{prefix}{min(int((ts - second) * 1000), 999):03d}Z"


def parse_time(value: str | None) -> float | None:
    """A Kubernetes timestamp back to seconds since the epoch."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# The CRDs' duration pattern, and the parser's: both accept exactly the same strings.
DURATION_PATTERN: Final = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"
_DURATION: Final = re.compile(DURATION_PATTERN)
_PART: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")
_UNITS: Final = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str | None) -> float | None:
    """A Go-style duration (``"1h30m"``, ``"45s"``, ``"250ms"``) in seconds; None when unset.

    Accepts exactly what the CRDs' ``DURATION_PATTERN`` accepts, so nothing the API
    server stored can fail here; ``ValueError`` names the string otherwise.
    """
    if not value:
        return None
    if not _DURATION.fullmatch(value):
        raise ValueError(f"invalid duration {value[:64]!r}: want e.g. 30s, 5m, 1h30m")
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(value))


def is_terminal(run: Resource) -> bool:
    """True once the run reached Succeeded, Failed or Cancelled."""
    return run.get("status", {}).get("phase") in TERMINAL_PHASES


def get_run(deps: Deps, ref: RunRef) -> Resource | None:
    """The run an event names, or None when it is gone or was replaced (uid differs)."""
    try:
        run = deps.store.get(KIND, ref.namespace, ref.name)
    except NotFound:
        return None
    if ref.uid and run["metadata"].get("uid") != ref.uid:
        return None
    return run


def set_condition(
    status: dict[str, Any], type_: str, ok: bool, reason: str, message: str, now: float
) -> None:
    """Set one condition, keeping lastTransitionTime when its status did not change."""
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    value = "True" if ok else "False"
    for cond in conditions:
        if cond["type"] == type_:
            if cond["status"] != value:
                cond["lastTransitionTime"] = rfc3339(now)
            cond.update(status=value, reason=reason, message=message)
            return
    conditions.append(
        {
            "type": type_,
            "status": value,
            "reason": reason,
            "message": message,
            "lastTransitionTime": rfc3339(now),
        }
    )
