"""Events whose data meets the catalogue's schema, for tests about moving events, not runs."""

from __future__ import annotations

from typing import Any

from events import types
from events.envelope import CloudEvent, make_event

__all__ = ["valid_data", "valid_event"]

_RUN = {"run": {"namespace": "default", "name": "r1"}, "step": 1}


def valid_data(type_: str, **extra: Any) -> dict[str, Any]:
    """The least data ``type_``'s schema accepts, plus ``extra``."""
    if type_ in types.APISERVER_TYPES:
        base: dict[str, Any] = {"kind": "AgentRun", "metadata": {"name": "r1"}}
    elif type_ in (types.RUN_REQUESTED, types.CHANNEL_MESSAGE):
        base = {"agent": "a1", "task": "t"}
        if type_ == types.CHANNEL_MESSAGE:
            base["routing"] = {"channel": "generic"}
    elif type_ in (types.TOOL_REQUESTED, types.TOOL_APPROVED, types.TOOL_COMPLETED):
        base = {**_RUN, "toolCallId": "t1"}
    elif type_ == types.RUN_INPUT_RECEIVED:
        base = {**_RUN, "index": 1}
    elif type_ in (types.RUN_FINISHED,):
        base = {**_RUN, "phase": "Succeeded"}
    elif type_ == types.RUN_REPLIED:
        base = {**_RUN, "result": ""}
    elif type_ in types.BATON_TYPES and type_ != types.TICK:
        base = dict(_RUN)
    else:
        base = {}
    return {**base, **extra}


def valid_event(
    type_: str,
    id_: str,
    source: str = "/test",
    extensions: dict[str, Any] | None = None,
    **extra: Any,
) -> CloudEvent:
    """A CloudEvent of ``type_`` with schema-valid data (``extra`` merged in)."""
    return make_event(type_, source, valid_data(type_, **extra), id_=id_, extensions=extensions)
