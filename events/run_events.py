"""Decoding a baton run event once, at the edge, into a typed value.

Every shape hands a transition the same ``RunEvent``: the run reference, an integer
step (``1.0`` is refused: JSON Schema calls it an integer, Python does not), and the
type's own key. A transition reads fields, never
dicts, and trusts none of them beyond "which run, which step, which call": what to
do comes from the run's record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.envelope import RunRef, data_of
from events.errors import MalformedEvent

__all__ = ["RunEvent", "decode"]

_CALL_TYPES = frozenset({types.TOOL_REQUESTED, types.TOOL_APPROVED, types.TOOL_COMPLETED})


@dataclass(frozen=True)
class RunEvent:
    """A baton event about one run at one step."""

    type: str
    id: str
    source: str
    run: RunRef
    step: int
    tool_call_id: str = ""
    index: int = 0


def _int(value: Any, what: str, event: BaseCloudEvent) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedEvent(
            f"event {event.get_id()} ({event.get_type()}): {what} must be an integer >= 0, "
            f"not {value!r}"[:300]
        )
    return value


def _text(value: Any, what: str, event: BaseCloudEvent) -> str:
    if not isinstance(value, str) or not value or len(value) > 253:
        raise MalformedEvent(
            f"event {event.get_id()} ({event.get_type()}): {what} must be a non-empty string"
        )
    return value


def decode(event: BaseCloudEvent) -> RunEvent:
    """The event as a ``RunEvent``; ``MalformedEvent`` names what is wrong.

    The full schema is checked where events enter from outside (HTTP, NATS: see
    ``events.datacheck``); here, every field a transition reads is checked for its type.
    """
    data = data_of(event)
    run = data.get("run")
    if not isinstance(run, dict) or not run.get("name"):
        raise MalformedEvent(f"event {event.get_id()} ({event.get_type()}): data.run.name missing")
    ref = RunRef(
        _text(run.get("namespace") or "default", "data.run.namespace", event),
        _text(run["name"], "data.run.name", event),
        str(run.get("uid") or ""),
    )
    call_id = data.get("toolCallId")
    if event.get_type() in _CALL_TYPES:
        call_id = _text(call_id, "data.toolCallId", event)
    return RunEvent(
        type=event.get_type(),
        id=event.get_id(),
        source=event.get_source(),
        run=ref,
        step=_int(data.get("step"), "data.step", event),
        tool_call_id=str(call_id or ""),
        index=_int(data.get("index", 0), "data.index", event),
    )
