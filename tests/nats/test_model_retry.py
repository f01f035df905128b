"""A transient model error in the NATS shape: JetStream redelivers after the API's delay.

Source and workers run as separate processes (logging at DEBUG, as ``baton -vv worker``)
on a real nats-server; the Model points at a fake Messages API in this process. A 529
or a 429 with ``retry-after`` is retried once through the bus's nak delay and the run
succeeds with its tokens counted once; a 401 fails the run at once, naming the variable
the key came from. The key is looked for in every log line and trace the run leaves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.cli.manifests import apply
from functions.resources.sqlite import SqliteStore
from functions.runtime.eventlog import EventLog
from tests.fakes.messages_api import FakeMessagesAPI, Fault, RecordedRequest, Reply
from tests.nats.shape import GROUPS, ROOT, wait_terminal

API_KEY = "sk-ant-nats-k3y-that-must-never-leak"
KEY_ENV = "BATON_NATS_ANTHROPIC_KEY"
MODEL_ID = "claude-sonnet-5-5"
RUN = "retried"
USAGE = {"input_tokens": 321, "output_tokens": 45}
# shape_proc's processes with the root logger at DEBUG, as `baton -vv worker` runs them.
BOOT = (
    "import logging, sys; logging.basicConfig(level=logging.DEBUG); "
    "from tests.nats.shape_proc import main; main(sys.argv[1:])"
)


class Deployment:
    """Source and worker processes whose environment holds ``key``; logs kept per process."""

    def __init__(self, nats_url: str, work: Path, api: FakeMessagesAPI, key: str) -> None:
        self.url, self.work, self.api = nats_url, work, api
        self.db = str(work / "state.db")
        self.store = SqliteStore(self.db)
        self.env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
        self.env |= {KEY_ENV: key, "PYTHONUNBUFFERED": "1"}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.arrivals: list[float] = []  # monotonic time each scripted request reached the fake
        self._lock = threading.Lock()

    def start(self) -> Deployment:
        """The source and one worker per group; returns once all of them serve."""
        readies = [self._spawn("source", self.url, self.db)]
        readies += [self._spawn("worker", group, self.url, self.db) for group in GROUPS]
        deadline = time.monotonic() + 30
        for ready, process in zip(readies, self.processes, strict=True):
            while not ready.exists():
                assert process.poll() is None, f"{process.args!r} exited with {process.returncode}"
                assert time.monotonic() < deadline, "processes not ready within 30 s"
                time.sleep(0.02)
        return self

    def _spawn(self, *args: str) -> Path:
        n = len(self.processes)
        ready = self.work / f"ready-{n}"
        with (self.work / f"process-{n}.log").open("wb") as log:
            command = [sys.executable, "-c", BOOT, *args, str(ready)]
            process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return ready

    def stop(self) -> None:
        """SIGTERM every process and wait for it (its log is then complete)."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def timed(self, outcome: Reply | Fault) -> Callable[[RecordedRequest], Reply | Fault]:
        """A scripted answer that notes when its request arrived."""

        def answer(_: RecordedRequest) -> Reply | Fault:
            with self._lock:
                self.arrivals.append(time.monotonic())
            return outcome

        return answer

    def submit(self) -> dict[str, Any]:
        """Create the Model (on the fake), the Agent and the run; the run once terminal."""
        model: dict[str, Any] = {"provider": "anthropic", "model": MODEL_ID, "apiKeyEnv": KEY_ENV}
        model |= {"baseURL": self.api.url, "maxTokens": 512, "timeoutSeconds": 10}
        agent = {"modelRef": {"name": "claude"}, "systemPrompt": "Answer in one line."}
        apply(
            self.store,
            [
                _resource("Model", "claude", model),
                _resource("Agent", "terse", agent),
                _resource("AgentRun", RUN, {"agentRef": {"name": "terse"}, "task": "Say hi."}),
            ],
        )
        return wait_terminal(self.store, RUN, timeout=30)

    def traces(self, run: dict[str, Any]) -> str:
        """The run's status, journal and events, and every process's log, as one text."""
        self.stop()  # flushes and closes the logs
        parts = [json.dumps(run)]
        parts += [json.dumps(entry, default=str) for entry in self.store.read_journal(run)]
        parts += [repr(event) for event in EventLog(self.db).read(f"default/{RUN}")]
        parts += [log.read_text(errors="replace") for log in sorted(self.work.glob("*.log"))]
        return "\n".join(parts)


def _resource(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


@pytest.fixture
def deploy(nats_url: str, tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    """Start a deployment whose workers hold ``key``, beside a fake API that takes API_KEY."""
    deployments: list[Deployment] = []
    with FakeMessagesAPI(api_key=API_KEY, model_ids=frozenset({MODEL_ID})) as api:

        def start(key: str = API_KEY) -> Deployment:
            deployment = Deployment(nats_url, tmp_path, api, key)
            deployments.append(deployment)
            return deployment.start()

        yield start
        for deployment in deployments:
            deployment.stop()


@pytest.mark.parametrize(
    ("fault", "reason", "least_wait"),
    [
        # No retry-after: the bus's own backoff (shape_proc's backoff_base, 0.1 s).
        (Fault.status_code(529, "Overloaded"), "ModelOverloaded", 0.1),
        (Fault.status_code(429, "slow down", retry_after=1), "ModelRateLimited", 1.0),
    ],
    ids=["overloaded-529", "rate-limited-429"],
)
def test_transient_model_error_is_retried_once_and_the_run_succeeds(
    deploy: Callable[..., Deployment], fault: Fault, reason: str, least_wait: float
) -> None:
    """One failed try, redelivered after the API's delay: Succeeded, tokens counted once."""
    deployment = deploy()
    deployment.api.enqueue(deployment.timed(fault), deployment.timed(Reply.text("hi", usage=USAGE)))
    run = deployment.submit()
    status = run["status"]

    assert status["phase"] == "Succeeded", status
    assert status["result"] == "hi"
    assert status["modelAttempts"] == 1
    assert status["tokenUsage"] == {
        "input": 321,
        "output": 45,
        "cacheRead": 0,
        "cacheCreation": 0,
        "total": 366,
    }
    first, second = deployment.api.bodies()  # retried once, not more
    assert first == second  # the same request again
    assert (
        deployment.api.requests[0].headers["baton-idempotency-key"]
        == deployment.api.requests[1].headers["baton-idempotency-key"]
    )
    # Redelivered after retry-after (529: the bus's backoff) by a nak delay, not at once.
    assert deployment.arrivals[1] - deployment.arrivals[0] >= least_wait
    replies = [key for key, _ in deployment.store.read_journal(run) if key.startswith("reply/")]
    assert replies == ["reply/1"]

    traces = deployment.traces(run)
    assert f"model call failed: {reason}" in traces  # the worker said why it retried
    assert "dev.baton.llm.requested" in traces
    assert API_KEY not in traces


def test_rejected_key_fails_the_run_at_once_naming_the_variable(
    deploy: Callable[..., Deployment],
) -> None:
    """A 401 is permanent: one request, the run Failed, pointing at KEY_ENV, no key anywhere."""
    wrong = "sk-ant-wrong-nats-key-0000"
    deployment = deploy(wrong)
    deployment.api.enqueue(Reply.text("never sent"))
    run = deployment.submit()
    status = run["status"]

    assert status["phase"] == "Failed", status
    assert status["error"]["reason"] == "ModelAuthenticationFailed"
    assert (
        f"authentication failed: check environment variable {KEY_ENV}"
        in (status["error"]["message"])
    )
    assert len(deployment.api.requests) == 1  # not retried
    assert "modelAttempts" not in status
    traces = deployment.traces(run)
    # Decided where it happened (the run's outcome), not left to the dead letter.
    assert "dead-lettering" not in traces
    assert "call_llm dev.baton.llm.requested -> ['dev.baton.run.failed']" in traces
    assert wrong not in traces and API_KEY not in traces
