"""What every served app gets for operators: ``GET /metrics`` and, when tracing is on,
OpenTelemetry's Flask instrumentation (a SERVER span per request, the caller's
``traceparent`` header continued)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from functions import tracing

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["instrument_app"]


def instrument_app(app: Flask) -> Flask:
    """Add ``/metrics`` (unless ``BATON_METRICS=0``) and Flask tracing to ``app``."""
    from flask import Response

    from functions.observe.metrics import CONTENT_TYPE, enabled, exposition

    if enabled():

        @app.get("/metrics")
        def metrics() -> Response:
            return Response(exposition(), status=200, content_type=CONTENT_TYPE)

    if tracing.enabled():
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        tracing.setup()
        # /healthz, /readyz and /metrics are probes and scrapes, not work worth a trace.
        FlaskInstrumentor().instrument_app(  # type: ignore[no-untyped-call]
            app, excluded_urls="healthz,readyz,metrics"
        )
    return app
