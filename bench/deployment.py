"""The NATS shape under measurement: nats-server, a source and N worker processes, one store.

``nats_deployment(sc, workers=N)`` starts a fresh ``nats-server -js`` on a free loopback
port, the source and N workers (each serving every function, ``bench.nats_proc``) as
separate processes on a temporary SQLite store with the scenario applied, and stops them
all on exit. Runs are created in the store, as ``baton run``/``baton apply`` create them:
the source turns them into events.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.harness import ROOT
from bench.machine import cpu_seconds
from bench.scenario import Scenario
from functions.cli.manifests import apply
from functions.ports import Resource
from functions.run.status import TERMINAL_PHASES

__all__ = ["Deployment", "nats_deployment"]

READY_TIMEOUT = 60.0
HISTORY = 1_000_000  # more finished runs than any benchmark makes


class Deployment:
    """The running processes of one benchmarked NATS deployment."""

    def __init__(self, url: str, work: Path, server_pid: int) -> None:
        from functions.resources.sqlite import SqliteStore

        self.url = url
        self.server_pid = server_pid
        self.work = work
        self.db = str(work / "state.db")
        self.store = SqliteStore(self.db)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, workers: int) -> None:
        """The source and ``workers`` worker processes, started side by side, all serving."""
        env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        roles = {"source": "source", **{f"worker-{i}": "worker" for i in range(workers)}}
        for key, role in roles.items():
            log = (self.work / f"{key}.log").open("wb")
            self.processes[key] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.nats_proc",
                    role,
                    self.url,
                    self.db,
                    self._ready(key),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()  # the child holds its own descriptor
        deadline = time.monotonic() + READY_TIMEOUT
        for key in roles:
            while not Path(self._ready(key)).exists():
                self._check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{key} not serving after {READY_TIMEOUT:.0f} s")
                time.sleep(0.02)

    def _ready(self, key: str) -> str:
        return str(self.work / f"ready-{key}")

    def _check_alive(self) -> None:
        for key, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.work / f"{key}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{key} exited {process.returncode}: {tail}")

    def worker_pids(self) -> list[int]:
        """Process ids of the workers."""
        return [p.pid for k, p in self.processes.items() if k.startswith("worker-")]

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by baton's processes (workers and source) and nats-server."""
        return {
            "baton": sum(cpu_seconds(p.pid) for p in self.processes.values()),
            "nats_server": cpu_seconds(self.server_pid),
        }

    def submit(self, sc: Scenario, names: list[str]) -> None:
        """Create the AgentRuns in the shared store."""
        for name in names:
            self.store.create(sc.run_named(name))

    def wait_done(self, names: list[str], timeout: float = 300) -> int:
        """Block until every run ``names`` is terminal; how many Succeeded."""
        wanted = set(names)
        deadline = time.monotonic() + timeout
        while True:
            phases = [
                r.get("status", {}).get("phase")
                for r in self.store.list("AgentRun", "default")
                if r["metadata"]["name"] in wanted
            ]
            done = [p for p in phases if p in TERMINAL_PHASES]
            if len(done) == len(wanted):
                return sum(1 for p in done if p == "Succeeded")
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(wanted) - len(done)} of {len(wanted)} runs not done")
            # Polling costs the workers CPU on a small machine: 50 ms is 1-2 % of a 200-run batch.
            time.sleep(0.05)

    def complete(self, sc: Scenario, names: list[str], timeout: float = 300) -> int:
        """Submit the runs and wait until all are terminal; how many Succeeded."""
        self.submit(sc, names)
        return self.wait_done(names, timeout)

    def stop(self) -> None:
        """SIGTERM every process (workers ack what they hold), SIGKILL a straggler."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.store.close()


def _keep_history(resources: list[Resource]) -> list[Resource]:
    # The source's sweep ticks here (the embedded benchmarks run without it) and would
    # delete finished runs past the Agent's runHistoryLimit (50) before they are counted.
    for doc in resources:
        if doc["kind"] == "Agent":
            doc["spec"]["runHistoryLimit"] = HISTORY
    return resources


@contextmanager
def nats_deployment(sc: Scenario, *, workers: int) -> Iterator[Deployment]:
    """A started deployment with ``sc`` applied; everything stopped and removed on exit."""
    from functions.runtime.natsserver import local_nats_server

    with tempfile.TemporaryDirectory(prefix="baton-bench-nats-") as tmp:
        work = Path(tmp)
        # SIGKILL at the end: the benchmark's stream holds nothing worth flushing.
        with local_nats_server(work / "js", graceful=False) as server:
            deployment = Deployment(server.url, work, server.process.pid)
            try:
                apply(deployment.store, _keep_history(sc.resources()))
                deployment.start(workers)
                yield deployment
            finally:
                deployment.stop()
