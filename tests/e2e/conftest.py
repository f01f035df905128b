"""Fixtures for end-to-end runs on the embedded shape."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.cli.manifests import apply
from functions.run.status import is_terminal
from functions.runtime.embedded import Embedded
from tests.fixtures.logs import all_logs  # noqa: F401 - the fixture, shared

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "config" / "samples"

# A lead agent (Model lead-model) that delegates to researcher sub-agents (Model
# helper-model), two at a time; a test adds the two Models and the AgentRun it needs.
RESEARCH_TEAM = """
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: researcher}
spec:
  modelRef: {name: helper-model}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: lead}
spec:
  modelRef: {name: lead-model}
  tools: [{agent: researcher, description: Research one topic}]
  subagents: {maxChildrenPerAgent: 2, maxConcurrent: 2}
"""


def docs_of(text: str) -> list[dict[str, Any]]:
    """YAML documents with the default namespace filled in."""
    docs = [d for d in yaml.safe_load_all(text) if d]
    for d in docs:
        d.setdefault("metadata", {}).setdefault("namespace", "default")
    return docs


def sample(name: str) -> list[dict[str, Any]]:
    """The documents of config/samples/<name>.yaml."""
    return docs_of((SAMPLES / f"{name}.yaml").read_text())


def settle(runtime: Embedded, what: str = "the chain") -> None:
    """Wait for the chain to be idle, then write what it logged (events, run Events), so
    another reader (the CLI, the console, another connection) sees it all."""
    assert runtime.bus.wait_idle(10), f"{what} is still busy"
    if runtime.events is not None:
        runtime.events.flush()
    recorder = getattr(runtime.deps.store, "recorder", None)  # an ObservedStore's
    if recorder is not None:
        recorder.flush()


def wait_terminal(runtime: Embedded, name: str, timeout: float = 20.0) -> dict[str, Any]:
    """The AgentRun once it reached a terminal phase (fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = runtime.store.get("AgentRun", "default", name)
        if is_terminal(run):
            settle(runtime, f"run {name} ended but its chain")
            return runtime.store.get("AgentRun", "default", name)
        time.sleep(0.01)
    run = runtime.store.get("AgentRun", "default", name)
    raise AssertionError(f"run {name} not finished after {timeout}s: {run.get('status')}")


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Callable[..., Embedded]]:
    """A factory of started embedded runtimes on a fresh database; all stopped at teardown."""
    started: list[Embedded] = []

    def make(**kwargs: Any) -> Embedded:
        kwargs.setdefault("sweep_interval", 0.1)

        kwargs.setdefault("offline_fallback", True)
        runtime = Embedded(str(tmp_path / f"state{len(started)}.db"), **kwargs)
        runtime.start()
        started.append(runtime)
        return runtime

    yield make
    for runtime in started:
        runtime.stop()


def run_docs(runtime: Embedded, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply documents; return the AgentRuns as created."""
    return [a.obj for a in apply(runtime.store, docs) if a.obj["kind"] == "AgentRun"]
