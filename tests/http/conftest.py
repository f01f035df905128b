"""Fixtures for the HTTP tests: a SQLite store file shared with real gunicorn processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from cloudevents.core.base import BaseCloudEvent

from events.apiserver import resource_event
from functions import chain
from functions.cli.manifests import apply
from functions.ports import Deps, Resource
from functions.resources.sqlite import SqliteStore
from functions.runtime.deps import build_deps
from tests.fixtures.http import Served, serve_function

AGENT = """
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: helper, namespace: default}
spec:
  modelRef: {name: scripted}
  systemPrompt: You help.
  tools: [{builtin: current_time}, {builtin: calculate}]
"""


def model_yaml(script: list[dict[str, Any]]) -> str:
    """A scripted Model named ``scripted`` playing ``script``."""
    doc = {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "scripted", "namespace": "default"},
        "spec": {"provider": "scripted", "model": "scripted-1", "script": script},
    }
    return yaml.safe_dump(doc)


class World:
    """The store the served functions share, with helpers to put runs where a test needs them."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.url = f"sqlite:///{db}"
        self.store = SqliteStore(str(db))
        self.deps: Deps = build_deps(self.store)

    def apply(self, text: str) -> list[Resource]:
        """Create or update the resources in a YAML text."""
        return [a.obj for a in apply(self.store, list(yaml.safe_load_all(text)), rerun=True)]

    def setup(self, script: list[dict[str, Any]]) -> None:
        """The scripted Model and the ``helper`` Agent."""
        self.apply(model_yaml(script) + "---\n" + AGENT)

    def new_run(self, name: str = "r1", task: str = "what is 2+3?") -> Resource:
        """A fresh AgentRun of ``helper``."""
        run = {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "AgentRun",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"agentRef": {"name": "helper"}, "task": task},
        }
        return self.store.create(run)

    def added(self, run: Resource) -> BaseCloudEvent:
        """The ApiServerSource event for the run's creation."""
        return resource_event("ADDED", run)

    def step(self, function: str, event: BaseCloudEvent) -> list[BaseCloudEvent]:
        """Run one transition in this process (to bring a run to the step under test)."""
        return list(chain.bind(function, self.deps)(event))

    def llm_requested(self, name: str = "r1") -> BaseCloudEvent:
        """A new run taken through validate and prepare_context: its first llm.requested."""
        (accepted,) = self.step("validate", self.added(self.new_run(name)))
        (requested,) = self.step("prepare_context", accepted)
        return requested

    def runs(self) -> list[Resource]:
        """Every AgentRun in the store."""
        return self.store.list("AgentRun")

    def run(self, name: str = "r1") -> Resource:
        """One AgentRun, fresh from the store."""
        return self.store.get("AgentRun", "default", name)


@pytest.fixture
def world(tmp_path: Path) -> World:
    """A store file for this test."""
    return World(tmp_path / "state.db")


Serve = Callable[..., Served]


@pytest.fixture
def serve(world: World, tmp_path: Path) -> Iterator[Serve]:
    """Start gunicorn serving a function on the test's store: ``serve("validate", sink=url)``."""
    with ExitStack() as stack:

        def start(function: str | None, **kwargs: Any) -> Served:
            manager: AbstractContextManager[Served] = serve_function(
                function, store=world.url, log_dir=tmp_path, **kwargs
            )
            return stack.enter_context(manager)

        yield start
