"""OpenTelemetry traces: one trace per run, exported over OTLP/HTTP (or to the console).

Opt-in: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
exports to that collector; ``BATON_TRACING=console`` prints spans on stderr;
``BATON_TRACING=1`` exports to the OTLP default (http://localhost:4318). The SDK and
exporter are imported only then (~200 ms), so a function that must answer within 0.3 s of
exec pays nothing otherwise.

Each transition is a CONSUMER span, the child of the span that emitted its event (the
``traceparent`` extension); the events it emits carry its own context onward. A run's
first event without one belongs to the trace named by the run (its creator's trace, kept
in the ``baton.dev/traceparent`` annotation, else the run's uid). ``route`` continues the
producer's ``traceparent`` (CloudEvent extension, or the HTTP header through the Flask
instrumentation), so the request and the whole run are one trace. Sweep's ticks are not
traced: a root trace per second would bury the runs.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events.envelope import CloudEvent

__all__ = [
    "TRACEPARENT_ANNOTATION",
    "current_traceparent",
    "enabled",
    "setup",
    "shutdown",
    "trace_id_of",
    "traced",
    "with_traceparent",
]

Handler = Callable[[BaseCloudEvent], list[CloudEvent]]
TRACEPARENT_ANNOTATION: Final = "baton.dev/traceparent"
_TRACES_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
_UNTRACED_TYPES: Final = frozenset({"dev.baton.tick", "dev.knative.sources.ping"})
_setup_lock = threading.Lock()
_setup_done = False
log = logging.getLogger("baton.tracing")


def enabled() -> bool:
    """True when traces are wanted in this process."""
    env = os.environ
    if env.get("BATON_TRACING", "").lower() in ("1", "true", "yes", "console"):
        return True
    # Named, not searched for: this runs on every model and tool call.
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(_TRACES_ENDPOINT))


def setup() -> None:
    """Install the SDK's tracer provider with the configured exporter, once per process.

    A provider someone else installed (an application embedding baton) is left alone.
    """
    global _setup_done
    if _setup_done:
        return
    with _setup_lock:
        if _setup_done:
            return
        _setup_done = True
        from opentelemetry import trace

        if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            return
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

        exporter: SpanExporter
        if os.environ.get("BATON_TRACING", "").lower() == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()  # endpoint, headers, timeout from OTEL_* env
        function = os.environ.get("BATON_FUNCTION")
        resource = Resource.create({"service.name": f"baton-{function}" if function else "baton"})
        provider = TracerProvider(resource=resource)  # OTEL_SERVICE_NAME still wins
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)


def shutdown() -> None:
    """Export what is buffered and stop the provider ``setup`` installed (no-op otherwise).

    For a host that ends tracing before the process ends (the benchmark, which then
    closes its collector): the exporter would otherwise retry into a closed port.
    """
    if not _setup_done:
        return
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    stop = getattr(provider, "shutdown", None)  # the SDK's provider, not the API's proxy
    if stop is not None:
        stop()


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, if any."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32-hex trace id of a W3C traceparent, None if it is not one."""
    parts = (traceparent or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        try:
            int(parts[1], 16)
        except ValueError:
            return None
        return parts[1].lower()
    return None


def traced(function: str, handler: Handler) -> Handler:
    """``handler`` inside a CONSUMER span named after ``function``."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    setup()
    tracer = trace.get_tracer("baton")
    propagator = TraceContextTextMapPropagator()

    def run(event: BaseCloudEvent) -> list[CloudEvent]:
        if event.get_type() in _UNTRACED_TYPES:
            return handler(event)
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
            return [with_traceparent(e, out.get("traceparent")) for e in emitted]

    return run


def _run_root(event: BaseCloudEvent) -> Any:
    """A run's event without a traceparent: a parent in the run's trace (None: a new one)."""
    import uuid

    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    data = event.get_data()
    if not isinstance(data, Mapping):
        return None
    uid: Any = None
    if event.get_extension("kind") == "AgentRun":
        meta = data.get("metadata") or {}
        annotated = (meta.get("annotations") or {}).get(TRACEPARENT_ANNOTATION)
        if trace_id_of(annotated):  # the trace of whoever created the run (route, a user)
            return TraceContextTextMapPropagator().extract({"traceparent": str(annotated)})
        uid = meta.get("uid")
    elif isinstance(data.get("run"), Mapping):
        uid = data["run"].get("uid")
    try:
        trace_id = uuid.UUID(str(uid)).int
    except ValueError:
        return None
    span = trace.SpanContext(
        trace_id=trace_id,
        span_id=uuid.uuid4().int & ((1 << 64) - 1) or 1,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(span))


def with_traceparent(event: BaseCloudEvent, traceparent: str | None) -> CloudEvent:
    """``event`` carrying ``traceparent`` (unchanged when None)."""
    if not traceparent:
        return event  # type: ignore[return-value]
    attributes = dict(event.get_attributes())
    attributes["traceparent"] = traceparent
    return CloudEvent(attributes, event.get_data())
