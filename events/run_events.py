"""Decoding a baton run event once, at the edge, into a typed value.

Every shape hands a transition the same ``RunEvent``: data checked against the type's
schema, the run reference, an integer step (``1.0`` is refused: JSON Schema calls it
an integer, Python does not), and the type's own key. A transition reads fields, never
dicts, and trusts none of them beyond "which run, which step, which call": what to
do comes from the run's record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events.catalogue import validate_data
from events.envelope import RunRef, data_of
from events.errors import MalformedEvent

__all__ = ["RunEvent", "decode"]


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


def decode(event: BaseCloudEvent) -> RunEvent:
    """The event as a ``RunEvent``; ``MalformedEvent`` names what is wrong."""
    data = data_of(event)
    validate_data(event.get_type(), data)
    run = data.get("run")
    if not isinstance(run, dict) or not run.get("name"):
        raise MalformedEvent(f"event {event.get_id()} ({event.get_type()}): data.run.name missing")
    ref = RunRef(str(run.get("namespace") or "default"), str(run["name"]), str(run.get("uid", "")))
    return RunEvent(
        type=event.get_type(),
        id=event.get_id(),
        source=event.get_source(),
        run=ref,
        step=_int(data.get("step"), "data.step", event),
        tool_call_id=str(data.get("toolCallId") or ""),
        index=_int(data.get("index", 0), "data.index", event),
    )
