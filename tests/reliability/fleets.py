"""The three shapes as fleets of real processes that a chaos test can SIGKILL and restart.

``NatsFleet``: nats-server (the test's), the source and three worker processes.
``HttpFleet``: every function under its own gunicorn behind the test broker (Knative's
Broker and Triggers), and the store's watch + ticks as a source process posting to it.
``EmbeddedFleet``: one ``baton serve``, killed and restarted whole.
Every process runs in its own session: a kill takes its children (the MCP server) with it,
as a pod's death would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from functions import chain
from functions.cli.manifests import apply
from functions.resources.sqlite import SqliteStore
from functions.serve.settings import function_name
from tests.fixtures.http import GUNICORN, free_port, post_event, request
from tests.reliability.chaos_world import FAKE_KEY, KEY_ENV

__all__ = ["EmbeddedFleet", "Fleet", "HttpFleet", "NatsFleet"]

ROOT = Path(__file__).resolve().parents[2]
BATON = str(Path(sys.executable).parent / "baton")
GROUPS = (
    "route,validate,prepare_context,dead_letter",
    "call_llm,call_tool",
    "finalize,sweep,deliver",
)


def _group_pids(pgid: int) -> frozenset[int]:
    """Every live process in process group ``pgid`` (the process and its children)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.add(int(entry.name))
    return frozenset(pids | {pgid})


class Fleet:
    """Named processes, each started by ``command(name)`` and ready when ``ready(name)``."""

    victims: tuple[str, ...] = ()

    def __init__(self, work: Path) -> None:
        self.work = work
        self.db = str(work / "state.db")
        self.store = SqliteStore(self.db)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "K_SINK")}
        self.env.update({KEY_ENV: FAKE_KEY, "PYTHONPATH": str(ROOT)})
        self._started = 0
        self._pids: frozenset[int] | None = None
        (work / "logs").mkdir(exist_ok=True)

    def command(self, name: str) -> tuple[list[str], dict[str, str]]:
        """The argv and extra environment of process ``name``."""
        raise NotImplementedError

    def ready(self, name: str) -> bool:
        """Whether process ``name`` serves."""
        raise NotImplementedError

    def calls_model(self, name: str) -> bool:
        """Whether process ``name`` runs call_llm."""
        raise NotImplementedError

    def submit(self, event: BaseCloudEvent) -> bool:
        """Send a client's request; True once the shape accepted it."""
        raise NotImplementedError

    def start(self, manifests: list[dict[str, Any]]) -> None:
        """Apply the manifests and start every process."""
        apply(self.store, manifests)
        for name in self.victims:
            self.spawn(name, wait=False)
        for name in self.victims:
            self.wait_ready(name)

    def spawn(self, name: str, wait: bool = True) -> None:
        """Start process ``name`` (again)."""
        self._started += 1
        argv, extra = self.command(name)
        log = self.work / "logs" / f"{name.replace(',', '+')}-{self._started}.log"
        with log.open("wb") as out:
            self.processes[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**self.env, **extra},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_ready(name)
        self._pids = None

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        """Block until process ``name`` serves; AssertionError if it exits or takes too long."""
        process = self.processes[name]
        deadline = time.monotonic() + timeout
        while not self.ready(name):
            assert process.poll() is None, f"{name} exited with {process.returncode}"
            assert time.monotonic() < deadline, f"{name} not ready within {timeout} s"
            time.sleep(0.05)
        self._pids = None  # its children (gunicorn's worker) exist now

    def pids(self) -> frozenset[int]:
        """Every live process of the fleet, children included (cached until one starts or dies)."""
        if self._pids is None:
            self._pids = frozenset().union(*(_group_pids(p.pid) for p in self.processes.values()))
        return self._pids

    def kill(self, name: str) -> frozenset[int]:
        """SIGKILL process ``name`` and its children; the pids that died."""
        process = self.processes.pop(name)
        pids = _group_pids(process.pid)
        self._pids = None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        return pids

    def stop(self) -> None:
        """SIGKILL everything (the experiment is over and its state was read)."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        self.processes.clear()


class NatsFleet(Fleet):
    """The source and three worker processes on the test's nats-server."""

    victims = ("source", *GROUPS)

    def __init__(self, work: Path, nats_url: str) -> None:
        super().__init__(work)
        self.url = nats_url
        self._bus: Any = None
        self._ready_files: dict[str, Path] = {}

    def command(self, name: str) -> tuple[list[str], dict[str, str]]:
        ready = self.work / f"ready-{self._started}"
        self._ready_files[name] = ready
        what = ["source"] if name == "source" else ["worker", name]
        return [
            sys.executable,
            "-m",
            "tests.reliability.procs",
            *what,
            self.url,
            self.db,
            str(ready),
        ], {}

    def ready(self, name: str) -> bool:
        return self._ready_files[name].exists()

    def calls_model(self, name: str) -> bool:
        return "call_llm" in name.split(",")

    def submit(self, event: BaseCloudEvent) -> bool:
        """Publish on JetStream: accepted once the server acknowledged it."""
        from events.buses.jetstream import JetStreamBus, JetStreamConfig

        if self._bus is None:
            self._bus = JetStreamBus(JetStreamConfig(url=self.url))
        try:
            self._bus.publish(event)
        except Exception:  # not published: not accepted
            return False
        return True

    def stop(self) -> None:
        if self._bus is not None:
            self._bus.close()
        super().stop()


class HttpFleet(Fleet):
    """Every function under its own gunicorn, routed by the test broker, and a source process."""

    def __init__(self, work: Path) -> None:
        from tests.fixtures.broker import TestBroker
        from tests.fixtures.knative import service_functions, triggers

        super().__init__(work)
        services = service_functions()
        functions = sorted(f for f in set(services.values()) if function_name(f) in chain.FUNCTIONS)
        self.ports = {f: free_port() for f in functions}
        endpoints = {f: f"http://127.0.0.1:{port}/" for f, port in self.ports.items()}
        self.broker = TestBroker(triggers(), endpoints, services, dispatchers=32)
        self.victims = ("source", *functions)
        self._source_ready = work / "ready-source"
        self._stack = ExitStack()

    def start(self, manifests: list[dict[str, Any]]) -> None:
        self._stack.enter_context(self.broker)
        super().start(manifests)

    def command(self, name: str) -> tuple[list[str], dict[str, str]]:
        if name == "source":
            self._source_ready = self.work / f"ready-{self._started}"
            argv = [sys.executable, "-m", "tests.reliability.procs", "http-source"]
            return [*argv, self.broker.ingress_url, self.db, str(self._source_ready)], {}
        env = {
            "PORT": str(self.ports[name]),
            "BATON_BIND_HOST": "127.0.0.1",
            "BATON_STORE": f"sqlite:///{self.db}",
            "BATON_THREADS": "8",
            "BATON_FUNCTION": name,
            "K_SINK": self.broker.ingress_url,
        }
        return [
            GUNICORN,
            "-c",
            "python:functions.serve.gunicorn_conf",
            "functions.serve.app:from_env()",
        ], env

    def ready(self, name: str) -> bool:
        if name == "source":
            return self._source_ready.exists()
        try:
            return request(f"http://127.0.0.1:{self.ports[name]}/healthz").status == 200
        except OSError:
            return False

    def calls_model(self, name: str) -> bool:
        return function_name(name) == "call_llm"

    def submit(self, event: BaseCloudEvent) -> bool:
        """POST to the broker's ingress: accepted when it answered 202."""
        try:
            return post_event(self.broker.ingress_url, event).status == 202
        except OSError:
            return False

    def stop(self) -> None:
        super().stop()
        self._stack.close()


class EmbeddedFleet(Fleet):
    """``baton serve``: every function in one process over the SQLite store."""

    victims = ("serve",)

    def __init__(self, work: Path) -> None:
        super().__init__(work)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"

    def command(self, name: str) -> tuple[list[str], dict[str, str]]:
        return [BATON, "--db", self.db, "serve", "--port", str(self.port)], {}

    def ready(self, name: str) -> bool:
        try:
            return request(self.url + "healthz").status == 200
        except OSError:
            return False

    def calls_model(self, name: str) -> bool:
        return True

    def submit(self, event: BaseCloudEvent) -> bool:
        """POST to baton serve: accepted when it answered 202."""
        try:
            return post_event(self.url, event).status == 202
        except OSError:
            return False
