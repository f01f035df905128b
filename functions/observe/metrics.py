"""The process's Prometheus metrics, built on first use (``prometheus_client``, ~15 ms).

One set per process, on prometheus_client's default registry, so ``/metrics`` also shows
the process collectors (CPU, memory, open files). With ``PROMETHEUS_MULTIPROC_DIR`` set
(several gunicorn workers) the exposition merges every worker's files. ``BATON_METRICS=0``
turns recording off.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Final

__all__ = ["CONTENT_TYPE", "Metrics", "enabled", "exposition", "metrics", "serve_metrics"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
# Latency buckets from a SQLite write (sub-millisecond) to a long model call (minutes).
_TRANSITION_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                              1.0, 2.5, 5.0, 10.0)  # fmt: skip
_CALL_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_MAX_LABEL_VALUES: Final = 200  # names from a model (tools) are capped: no unbounded series

_lock = threading.Lock()
_metrics: Metrics | None = None


def enabled() -> bool:
    """False when ``BATON_METRICS`` is 0/false/no."""
    return os.environ.get("BATON_METRICS", "1").lower() not in ("0", "false", "no")


class Metrics:
    """The baton metric families."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.runs_started = Counter(
            "baton_runs_started_total", "AgentRuns that left their first phase", ["namespace"]
        )
        self.runs_finished = Counter(
            "baton_runs_finished_total",
            "AgentRuns that reached a terminal phase",
            ["namespace", "phase", "reason"],
        )
        self.transitions = Counter(
            "baton_transitions_total",
            "Events handled by a function, by outcome (ok, stale, retry, failed, error)",
            ["function", "outcome"],
        )
        self.transition_seconds = Histogram(
            "baton_transition_duration_seconds",
            "Event in -> events out, per function (model and tool time included)",
            ["function"],
            buckets=_TRANSITION_BUCKETS,
        )
        self.retries = Counter(
            "baton_retries_total",
            "Transient failures the transport retries, by function and reason",
            ["function", "reason"],
        )
        self.dead_letters = Counter(
            "baton_dead_letters_total", "Events dead-lettered, by reason", ["reason"]
        )
        self.in_flight = Gauge(
            "baton_in_flight",
            "Work claimed and not finished in this process (transition, model, tool)",
            ["kind"],
            multiprocess_mode="livesum",
        )
        self.model_seconds = Histogram(
            "baton_model_call_duration_seconds",
            "One model call, by model and outcome",
            ["model", "outcome"],
            buckets=_CALL_BUCKETS,
        )
        self.model_tokens = Counter(
            "baton_model_tokens_total",
            "Tokens by model and kind (input, output, cache_read, cache_creation)",
            ["model", "kind"],
        )
        self.model_cost = Counter(
            "baton_model_cost_usd_total", "Estimated model cost in USD (spec.pricing)", ["model"]
        )
        self.tool_calls = Counter(
            "baton_tool_calls_total",
            "Tool calls by tool and outcome (ok, error, pending, failed)",
            ["tool", "outcome"],
        )
        self.tool_seconds = Histogram(
            "baton_tool_call_duration_seconds", "One tool call", ["tool"], buckets=_CALL_BUCKETS
        )
        self._tools: set[str] = set()
        # Label lookups cost a lock and a dict each; the fixed ones are resolved once.
        self._in_flight = {k: self.in_flight.labels(k) for k in ("transition", "model", "tool")}

    def in_flight_of(self, kind: str) -> Any:
        """The in-flight gauge of ``kind`` (transition, model, tool)."""
        return self._in_flight[kind]

    def tool_label(self, name: str) -> str:
        """``name``, or ``other`` once too many distinct names were seen (a model invents them)."""
        with _lock:
            if name in self._tools or len(self._tools) < _MAX_LABEL_VALUES:
                self._tools.add(name)
                return name
        return "other"


def metrics() -> Metrics:
    """This process's metrics (built on the first call)."""
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


def exposition() -> bytes:
    """The text exposition of every metric (all workers' under ``PROMETHEUS_MULTIPROC_DIR``)."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    metrics()  # the families exist (at zero) before anything was counted
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry: Any = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))
    return bytes(generate_latest(REGISTRY))


def serve_metrics(port: int, host: str = "127.0.0.1") -> int:
    """Serve ``/metrics`` on ``host:port`` from a thread (0: any free port); the bound port."""
    from prometheus_client import start_http_server

    metrics()
    server, _thread = start_http_server(port, addr=host)
    return int(server.server_port)
