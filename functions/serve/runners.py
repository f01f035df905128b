"""What the app does with an accepted event: run one transition, or give it to the runtime."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from cloudevents.core.base import BaseCloudEvent

from events.bus import Handler, matches
from events.codecs.http import to_binary
from functions import tracing
from functions.serve import replies
from functions.serve.intake import accepted_filters
from functions.serve.replies import Reply

if TYPE_CHECKING:
    from events.buses.http import HTTPSink

__all__ = ["EmbeddedRunner", "FunctionRunner"]

log = logging.getLogger("baton.serve")


class FunctionRunner:
    """Runs one transition for an event and turns its result into the HTTP answer."""

    def __init__(self, function: str, handler: Handler, sink: HTTPSink | None) -> None:
        self.function = function
        self.handler = handler
        self.sink = sink

    def __call__(self, event: BaseCloudEvent) -> Reply:
        emitted = self.handler(event)
        if self.sink is not None:
            self.sink.publish_all(emitted)
            return Reply(202)
        if not emitted:
            return Reply(202)
        if len(emitted) == 1:
            message = to_binary(emitted[0])
            return Reply(200, message.body, dict(message.headers))
        log.error(
            "%s emitted %d events for %s but K_SINK is not set",
            self.function,
            len(emitted),
            event.get_id(),
        )
        return replies.json_error(
            500,
            "NoSink",
            f"{self.function} emitted {len(emitted)} events "
            f"({', '.join(e.get_type() for e in emitted)}) and can reply with one: set K_SINK",
        )


class EmbeddedRunner:
    """Publishes an event into the embedded runtime's bus."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.takes = runtime.triggers.takes

    def __call__(self, event: BaseCloudEvent) -> Reply:
        if tracing.enabled() and not event.get_extension("traceparent"):
            # The bus runs the chain on other threads: the request's trace goes with the event.
            event = tracing.with_traceparent(event, tracing.current_traceparent())
        if any(matches(event, f) for f in accepted_filters(None)):
            self.runtime.accept(event)  # stored before the 202: an accepted event is a promise
        else:  # an event for AgentTriggers with a cloudEvent source (Intake checked)
            self.runtime.triggers.deliver(event)
        return Reply(202)
