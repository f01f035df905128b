"""OpenTelemetry spans around transitions, chained through the ``traceparent`` extension.

Opt-in (``BATON_TRACING=1`` or any ``OTEL_EXPORTER_OTLP_*ENDPOINT``): the API costs
~25 ms to import, which a function that must answer within 0.3 s of exec only pays
when someone is collecting traces. Each transition's span is the child of the span
that emitted its event; the events it emits carry its own context onward.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events.envelope import CloudEvent

__all__ = ["enabled", "traced"]

Handler = Callable[[BaseCloudEvent], list[CloudEvent]]


def enabled() -> bool:
    """True when traces are wanted in this process."""
    if os.environ.get("BATON_TRACING", "").lower() in ("1", "true", "yes"):
        return True
    return any(k.startswith("OTEL_EXPORTER_OTLP") and k.endswith("ENDPOINT") for k in os.environ)


def traced(function: str, handler: Handler) -> Handler:
    """``handler`` inside a CONSUMER span named after ``function``."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    tracer = trace.get_tracer("baton")
    propagator = TraceContextTextMapPropagator()

    def run(event: BaseCloudEvent) -> list[CloudEvent]:
        carrier = {"traceparent": str(event.get_extension("traceparent") or "")}
        parent = propagator.extract(carrier) if carrier["traceparent"] else _run_root(event)
        attributes: dict[str, Any] = {
            "cloudevents.event_id": event.get_id(),
            "cloudevents.event_type": event.get_type(),
            "cloudevents.event_source": event.get_source(),
        }
        for ext, key in (("batonrun", "baton.run"), ("batonstep", "baton.step")):
            if event.get_extension(ext) is not None:
                attributes[key] = str(event.get_extension(ext))
        with tracer.start_as_current_span(
            function, context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes
        ) as span:
            emitted = handler(event)
            span.set_attribute("baton.emitted", [e.get_type() for e in emitted])
            out: dict[str, str] = {}
            propagator.inject(out)
            return [_with_traceparent(e, out.get("traceparent")) for e in emitted]

    return run


def _run_root(event: BaseCloudEvent) -> Any:
    """For a run's first event (no traceparent yet): a parent in the trace named by its uid."""
    import uuid

    from opentelemetry import trace

    data = event.get_data()
    uid = (data.get("metadata") or {}).get("uid") if isinstance(data, dict) else None
    if event.get_extension("kind") != "AgentRun" or not uid:
        return None
    span = trace.SpanContext(
        trace_id=uuid.UUID(str(uid)).int,
        span_id=uuid.uuid4().int & ((1 << 64) - 1) or 1,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(span))


def _with_traceparent(event: CloudEvent, traceparent: str | None) -> CloudEvent:
    if not traceparent:
        return event
    attributes = dict(event.get_attributes())
    attributes["traceparent"] = traceparent
    return CloudEvent(attributes, event.get_data())
