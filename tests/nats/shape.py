"""A NATS deployment for tests: source and worker processes on one store and server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from functions.resources.sqlite import SqliteStore
from functions.run.status import is_terminal

__all__ = ["GROUPS", "SAMPLES", "Shape", "sample", "wait_terminal"]

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "config" / "samples"
# Three workers, as a deployment might group them; dead_letter fails poisoned runs.
GROUPS = ("route,validate,prepare_context,dead_letter", "call_llm,call_tool", "finalize,sweep")


def sample(name: str) -> list[dict[str, Any]]:
    """The documents of config/samples/<name>.yaml, namespace filled in."""
    docs = [d for d in yaml.safe_load_all((SAMPLES / f"{name}.yaml").read_text()) if d]
    for doc in docs:
        doc.setdefault("metadata", {}).setdefault("namespace", "default")
    return docs


def wait_terminal(store: SqliteStore, name: str, timeout: float = 30.0) -> dict[str, Any]:
    """The AgentRun once terminal; AssertionError after ``timeout``."""
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
