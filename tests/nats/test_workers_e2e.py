"""The NATS shape end to end: source and workers as separate processes, one SQLite store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.agentrun import is_terminal
from functions.cli.manifests import apply
from functions.resources.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "config" / "samples"
# Three workers, as a deployment might group them; dead_letter fails poisoned runs.
GROUPS = ("route,validate,prepare_context,dead_letter", "call_llm,call_tool", "finalize,sweep")

StartShape = Callable[[], SqliteStore]


def _sample(name: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((SAMPLES / f"{name}.yaml").read_text()) if d]
    for doc in docs:
        doc.setdefault("metadata", {}).setdefault("namespace", "default")
    return docs


def _wait_terminal(store: SqliteStore, name: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = store.get("AgentRun", "default", name)
        if is_terminal(run):
            return run
        time.sleep(0.05)
    run = store.get("AgentRun", "default", name)
    raise AssertionError(f"run {name} not finished after {timeout} s: {run.get('status')}")


@pytest.fixture
def nats_shape(nats_url: str, tmp_path: Path) -> Iterator[StartShape]:
    """Start the source and three worker processes; stop them all at teardown."""
    processes: list[subprocess.Popen[bytes]] = []
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    db = str(tmp_path / "state.db")

    def spawn(*args: str) -> None:
        ready = tmp_path / f"ready-{len(processes)}"
        command = [sys.executable, "-m", "tests.nats.shape_proc", *args, str(ready)]
        process = subprocess.Popen(command, cwd=ROOT, env=env)
        processes.append(process)
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert process.poll() is None, f"{args[0]} exited with {process.returncode}"
            assert time.monotonic() < deadline, f"{args[0]} not ready within 30 s"
            time.sleep(0.02)

    def start() -> SqliteStore:
        store = SqliteStore(db)
        spawn("source", nats_url, db)
        for group in GROUPS:
            spawn("worker", group, nats_url, db)
        return store

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_hello_sample_succeeds_across_worker_processes(nats_shape: StartShape) -> None:
    """hello.yaml runs through source -> validate -> ... -> finalize in separate processes."""
    store = nats_shape()
    apply(store, _sample("hello"))
    run = _wait_terminal(store, "hello")
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"].startswith("Hello! I am a baton agent.")
    assert run["status"]["tokenUsage"]["total"] == 59


def test_tools_sample_succeeds_across_worker_processes(nats_shape: StartShape) -> None:
    """tools.yaml calls a tool in one process and answers from another."""
    store = nats_shape()
    apply(store, _sample("tools"))
    run = _wait_terminal(store, "tools-demo")
    assert run["status"]["phase"] == "Succeeded"
    journal = dict(store.read_journal(run))
    tool_output = journal["tool/1/toolu_s01_0"]["content"]
    assert run["status"]["result"] == f"The current UTC time is {tool_output}."
    assert run["status"]["toolCalls"] == 1
