"""What the function servers accept: a capped body holding one CloudEvent their routes take.

An event no route of the function takes is refused with the routes it would take (a
Trigger sent it by mistake); one of baton's own types must match its data schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.bus import matches
from events.codecs.http import from_http
from events.datacheck import check_data, prepare
from events.errors import MalformedEvent
from functions import chain
from functions.serve.body import read_capped

__all__ = ["Intake", "accepted_filters"]


def accepted_filters(function: str | None) -> tuple[Mapping[str, str], ...]:
    """The Trigger filters of ``function``'s events (every routed event for the embedded server)."""
    return tuple(r.filter for r in chain.ROUTES if function is None or r.function == function)


def _describe(filters: tuple[Mapping[str, str], ...]) -> str:
    def one(f: Mapping[str, str]) -> str:
        rest = ", ".join(f"{k}={v}" for k, v in f.items() if k != "type")
        return f"{f.get('type')} ({rest})" if rest else str(f.get("type"))

    return ", ".join(one(f) for f in filters)


class Intake:
    """Turns a request into a checked event: size, CloudEvent, routing, data schema."""

    def __init__(
        self,
        function: str | None,
        max_body: int,
        also: Callable[[BaseCloudEvent], bool] | None = None,
    ) -> None:
        self.name = function or "the embedded server"
        self.max_body = max_body
        # dead_letter takes whatever a Trigger could not deliver, off-schema events included;
        # trigger takes whatever an AgentTrigger's broker Trigger sends it.
        self.any_event = function in ("dead_letter", "trigger")
        self.filters = accepted_filters(function)
        # Events no route takes that an AgentTrigger's cloudEvent filter does (embedded).
        self.also = also

    def event(
        self, headers: Mapping[str, str], length: int | None, read: Callable[[int], bytes]
    ) -> BaseCloudEvent:
        """The event in the request, or ``MalformedEvent`` saying why it is not acceptable."""
        body = read_capped(read, length, self.max_body)
        event = from_http(headers, body)
        if self.any_event:
            return event
        routed = any(matches(event, f) for f in self.filters)
        if not routed and not (self.also is not None and self.also(event)):
            raise MalformedEvent(
                f"{self.name} does not take {event.get_type()} events "
                f"(a Trigger routed it here by mistake); it takes {_describe(self.filters)}"
            )
        if event.get_type() in types.ALL_TYPES:
            check_data(event.get_type(), event.get_data())
        return event

    def warm(self) -> None:
        """Compile the data checks now, so the first event does not pay for them."""
        for filter_ in self.filters:
            if filter_.get("type") in types.ALL_TYPES:
                prepare(filter_["type"])
