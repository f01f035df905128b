"""Fixtures for the trigger tests: a SQLite store, a fake clock, Deps over both."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.ports import Deps
from functions.resources.sqlite import SqliteStore
from functions.runtime.deps import build_deps
from functions.trigger.runs import started_at
from tests.fakes.clock import FakeClock


class _NoChannels:
    def post(self, routing: Any, text: str, idempotency_key: str) -> None:
        raise AssertionError("no chat posts in these tests")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """An empty SQLite store."""
    yield SqliteStore(str(tmp_path / "state.db"))


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test moves it."""
    return FakeClock()


@pytest.fixture
def deps(store: SqliteStore, clock: FakeClock) -> Deps:
    """Deps over the store with the fake clock."""
    return dataclasses.replace(build_deps(store, channels=_NoChannels()), clock=clock)


def trigger(name: str, source: dict[str, Any], task: str, **spec: Any) -> dict[str, Any]:
    """An AgentTrigger for agent ``sre`` in ``default``."""
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "AgentTrigger",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"agentRef": {"name": "sre"}, "source": source, "run": {"task": task}, **spec},
    }


def runs_of(store: SqliteStore, name: str) -> list[dict[str, Any]]:
    """The AgentRuns the trigger ``name`` started, oldest first."""
    runs = store.list("AgentRun", "default", {"baton.dev/trigger": name})
    return sorted(runs, key=started_at)


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
