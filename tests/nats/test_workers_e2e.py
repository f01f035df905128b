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
from functions.runtime.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "config" / "samples"
# Three workers, as a deployment might group them; dead_letter fails poisoned runs.
GROUPS = ("route,validate,prepare_context,dead_letter", "call_llm,call_tool", "finalize,sweep")


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


class Shape:
    """The running processes of one NATS deployment on a test's server and store."""

    def __init__(self, nats_url: str, work: Path) -> None:
        self.url = nats_url
        self.work = work
        self.db = str(work / "state.db")
        self.store = SqliteStore(self.db)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
        self._started = 0

    def start(self) -> Shape:
        """The source and one worker per group, started side by side."""
        waits = [self.spawn("source", "source", self.url, self.db, wait=False)]
        waits += [self.spawn(g, "worker", g, self.url, self.db, wait=False) for g in GROUPS]
        for wait in waits:
            wait()
        return self

    def spawn(self, key: str, *args: str, wait: bool = True) -> Callable[[], None]:
        """Start one process; wait (or return a wait) until it serves."""
        self._started += 1
        ready = self.work / f"ready-{self._started}"
        command = [sys.executable, "-m", "tests.nats.shape_proc", *args, str(ready)]
        process = subprocess.Popen(command, cwd=ROOT, env=self._env)
        self.processes[key] = process

        def wait_ready() -> None:
            deadline = time.monotonic() + 30
            while not ready.exists():
                assert process.poll() is None, f"{key} exited with {process.returncode}"
                assert time.monotonic() < deadline, f"{key} not ready within 30 s"
                time.sleep(0.02)

        if wait:
            wait_ready()
        return wait_ready

    def kill(self, key: str) -> None:
        """SIGKILL one process: no cleanup, no acks, whatever it held."""
        process = self.processes.pop(key)
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM everything still running."""
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def nats_shape(nats_url: str, tmp_path: Path) -> Iterator[Shape]:
    """A NATS deployment (not started) on the test's server; stopped at teardown."""
    shape = Shape(nats_url, tmp_path)
    yield shape
    shape.stop()


def test_hello_sample_succeeds_across_worker_processes(nats_shape: Shape) -> None:
    """hello.yaml runs through source -> validate -> ... -> finalize in separate processes."""
    store = nats_shape.start().store
    apply(store, _sample("hello"))
    run = _wait_terminal(store, "hello")
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"].startswith("Hello! I am a baton agent.")
    assert run["status"]["tokenUsage"]["total"] == 59


def test_tools_sample_succeeds_across_worker_processes(nats_shape: Shape) -> None:
    """tools.yaml calls a tool in one process and answers from another."""
    store = nats_shape.start().store
    apply(store, _sample("tools"))
    run = _wait_terminal(store, "tools-demo")
    assert run["status"]["phase"] == "Succeeded"
    journal = dict(store.read_journal(run))
    tool_output = journal["tool/1/toolu_s01_0"]["content"]
    assert run["status"]["result"] == f"The current UTC time is {tool_output}."
    assert run["status"]["toolCalls"] == 1


SLOW_MODEL = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: slow-model}
spec:
  provider: scripted
  script:
    - text: "Answered after a long think."
      delayMs: 4000
      usage: {input: 30, output: 7}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: slow}
spec:
  modelRef: {name: slow-model}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: killed-mid-call}
spec:
  agentRef: {name: slow}
  task: Think hard.
"""


def test_worker_killed_during_a_model_call_loses_nothing_and_counts_once(
    nats_shape: Shape,
) -> None:
    """SIGKILL call_llm mid-call, restart it: the run succeeds, one reply, tokens once."""
    shape = nats_shape.start()
    docs = [d for d in yaml.safe_load_all(SLOW_MODEL) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = "default"
    apply(shape.store, docs)

    log = EventLog(shape.db)
    deadline = time.monotonic() + 20
    while not any(e.type.endswith("llm.requested") for e in log.read("default/killed-mid-call")):
        assert time.monotonic() < deadline, "llm.requested never emitted"
        time.sleep(0.02)
    time.sleep(1.0)  # well inside the 4 s model call
    shape.kill(GROUPS[1])
    assert not is_terminal(shape.store.get("AgentRun", "default", "killed-mid-call"))

    shape.spawn("call_llm again", "worker", GROUPS[1], shape.url, shape.db)
    run = _wait_terminal(shape.store, "killed-mid-call", timeout=60)
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"] == "Answered after a long think."
    assert run["status"]["tokenUsage"]["total"] == 37  # one model reply counted, not two
    replies = [key for key, _ in shape.store.read_journal(run) if key.startswith("reply/")]
    assert replies == ["reply/1"]


POISON = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: refusing-model}
spec:
  provider: scripted
  script:
    - error: {status: 400, message: "prompt is too long"}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: refused}
spec:
  modelRef: {name: refusing-model}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: poisoned}
spec:
  agentRef: {name: refused}
  task: Too much.
"""


def test_poison_event_is_dead_lettered_and_its_run_fails_with_the_reason(
    nats_shape: Shape,
) -> None:
    """A permanent model error: the event lands on the dead-letter subject, the run Fails."""
    from tests.nats.conftest import with_jetstream

    shape = nats_shape.start()
    docs = [d for d in yaml.safe_load_all(POISON) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = "default"
    apply(shape.store, docs)

    run = _wait_terminal(shape.store, "poisoned")
    assert run["status"]["phase"] == "Failed"
    assert "prompt is too long" in str(run["status"].get("error"))

    async def dead_letter(js: Any) -> Any:
        return await js.get_last_msg("BATON", "baton.deadletter.call_llm")

    stored = with_jetstream(shape.url, dead_letter)
    assert stored.headers["ce-batonerror"] == "ModelError"
    assert stored.headers["ce-type"] == "dev.baton.llm.requested"
