"""The run page on the Kubernetes store, which keeps no event log: steps from the journal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from functions.cli.manifests import apply, load_files
from functions.console.timeline import run_page
from functions.runtime.embedded import Embedded
from tests.console.conftest import SAMPLES
from tests.fixtures.kube import Cluster, kube, kube_crds, kube_store

__all__ = ["kube", "kube_crds", "kube_store"]


@pytest.fixture
def chain(kube_store: Any, tmp_path: Path) -> Iterator[Embedded]:
    """The chain in this process on the Kubernetes store, recording no event log."""
    runtime = Embedded(
        str(tmp_path / "unused.db"), store=kube_store, record_events=False, offline_fallback=True
    )
    runtime.start()
    yield runtime
    runtime.stop()


def test_the_timeline_comes_from_the_journal(kube: Cluster, chain: Embedded) -> None:
    """tools.yaml on Kubernetes: every step with tokens and cost, no invented times."""
    docs = load_files([str(SAMPLES / "tools.yaml")])
    for doc in docs:
        doc["metadata"]["namespace"] = kube.namespace
    apply(chain.store, docs, rerun=True)
    deadline = time.monotonic() + 60
    run = chain.store.get("AgentRun", kube.namespace, "tools-demo")
    while (run.get("status") or {}).get("phase") != "Succeeded" and time.monotonic() < deadline:
        time.sleep(0.1)
        run = chain.store.get("AgentRun", kube.namespace, "tools-demo")
    assert run["status"]["phase"] == "Succeeded", run.get("status")
    page = run_page(chain.store, run, None)
    kinds = [(s["kind"], s.get("name")) for s in page["steps"]]
    assert kinds == [
        ("transition", "validate"),
        ("transition", "prepare context"),
        ("model", "claude-sre"),
        ("tool", "current_time"),
        ("model", "claude-sre"),
        ("transition", "finalize"),
    ]
    assert all(s["start"] is None and s["durationMs"] is None for s in page["steps"])
    models = [s for s in page["steps"] if s["kind"] == "model"]
    assert sum(Decimal(s["cost"]) for s in models) == Decimal(run["status"]["costEstimate"])
    assert page["timed"] is False and page["events"] == []
    assert [i["kind"] for i in page["transcript"]][-1] == "assistant"
