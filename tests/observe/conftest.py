"""Fixtures for observing runs: the embedded runtime factory and metric readings."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from functions.observe.metrics import exposition
from tests.e2e.conftest import embedded  # noqa: F401 - the fixture, shared
from tests.fixtures.kube import kube, kube_crds, kube_store  # noqa: F401 - the fixtures, shared
from tests.fixtures.nats import nats_server, nats_url  # noqa: F401 - the fixtures, shared

__all__ = ["metric", "parse_metrics"]


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples of a text exposition by (name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(name: str, text: str | None = None, **labels: str) -> float:
    """One sample's value from ``text`` (this process's metrics when None); 0 when absent."""
    samples = parse_metrics(text if text is not None else exposition().decode())
    return samples.get((name, frozenset(labels.items())), 0.0)
