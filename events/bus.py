"""The Bus seam: how events move between functions, whatever the shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from cloudevents.core.base import BaseCloudEvent

from events.envelope import CloudEvent

__all__ = [
    "DEAD_LETTER_MESSAGE",
    "DEAD_LETTER_REASON",
    "Bus",
    "Handler",
    "Subscription",
    "matches",
]

# A handler runs one transition for one event and returns the events to emit next.
# It raises events.errors.TransientError to be retried and PermanentError to be
# dead-lettered; either way nothing it returned is published.
Handler = Callable[[BaseCloudEvent], list[CloudEvent]]

# Extensions a bus adds to an event it dead-letters (Knative's DLS adds
# knativeerrorcode/knativeerrordata instead; the dead_letter function reads both).
DEAD_LETTER_REASON: Final = "batonerror"
DEAD_LETTER_MESSAGE: Final = "batonerrormsg"


@dataclass(frozen=True)
class Subscription:
    """A function and the events it takes: exact attribute matches, as a Knative Trigger."""

    function: str
    filter: Mapping[str, str]
    handler: Handler = field(compare=False, repr=False)


def matches(event: BaseCloudEvent, filter_: Mapping[str, str]) -> bool:
    """True when every attribute in ``filter_`` equals the event's (Trigger semantics)."""
    attributes = event.get_attributes()
    return all(attributes.get(name) == value for name, value in filter_.items())


class Bus(Protocol):
    """At-least-once delivery of CloudEvents to subscribed functions."""

    def subscribe(self, subscription: Subscription) -> None:
        """Deliver matching events to ``subscription.handler``."""
        ...

    def on_dead_letter(self, handler: Handler) -> None:
        """Deliver dead-lettered events (with the reason extensions) to ``handler``."""
        ...

    def publish(self, event: CloudEvent) -> None:
        """Send one event; a second publish of the same id may be dropped."""
        ...

    def close(self) -> None:
        """Stop delivering and release resources; in-flight handlers finish first."""
        ...
