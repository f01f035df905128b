"""A tool-using AgentRun end to end in the embedded shape, through the real anthropic client.

The Model points at a fake Messages API on loopback; the run takes two model turns around
two parallel tool calls, survives an overloaded API, and is priced exactly. Failures the
API reports as permanent end the run Failed with a reason a person can act on. The API
key is looked for everywhere the run leaves a trace.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.base import BaseCloudEvent

from events.delivery import RetryPolicy
from functions.ports import Store
from functions.run.status import is_terminal
from functions.runtime.embedded import Embedded
from tests.fakes.messages_api import FakeMessagesAPI, Fault, Reply, text, thinking, tool_use

API_KEY = "sk-ant-e2e-k3y-that-must-never-leak"
KEY_ENV = "BATON_E2E_ANTHROPIC_KEY"
MODEL_ID = "claude-sonnet-5-5"
EPHEMERAL = {"type": "ephemeral"}
PRICING = {
    "inputPerMTok": 3,
    "outputPerMTok": 15,
    "cacheReadPerMTok": 0.3,
    "cacheWritePerMTok": 3.75,
}


class Deployment:
    """The embedded runtime, the fake API, and every trace the run leaves."""

    def __init__(self, runtime: Embedded, api: FakeMessagesAPI) -> None:
        self.runtime, self.api = runtime, api
        self.events: list[BaseCloudEvent] = []
        runtime.bus.tap(self.events.append)

    def apply(self, *, model_id: str = MODEL_ID, name: str = "weather", **extra: Any) -> None:
        """Create the Model, the Agent and an AgentRun named ``name``."""
        store = self.runtime.store
        spec = {"provider": "anthropic", "model": model_id, "apiKeyEnv": KEY_ENV}
        spec |= {
            "baseURL": self.api.url,
            "maxTokens": 1024,
            "timeoutSeconds": 30,
            "pricing": PRICING,
        } | extra
        create_calc_run(store, "claude", spec, name)

    def finished(self, name: str = "weather", timeout: float = 30.0) -> dict[str, Any]:
        """The run once it reached a terminal phase."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.runtime.store.get("AgentRun", "default", name)
            if is_terminal(run):  # and its chain done: the secret scan sees every trace
                assert self.runtime.bus.wait_idle(30), f"run {name} ended; its chain is busy"
                return self.runtime.store.get("AgentRun", "default", name)
            time.sleep(0.02)
        raise AssertionError(f"run {name} not finished: {run.get('status')}")

    def traces(self, run: dict[str, Any], logs: list[logging.LogRecord]) -> str:
        """Status, events, journal and log records of the run as one text."""
        parts = [json.dumps(run)]
        parts += [
            json.dumps({**e.get_attributes(), "data": e.get_data()}, default=str)
            for e in self.events
        ]
        parts += [json.dumps(entry, default=str) for entry in self.runtime.store.read_journal(run)]
        for record in logs:
            parts.append(record.getMessage())
            if record.exc_info:
                parts.append("".join(traceback.format_exception(*record.exc_info)))
        return "\n".join(parts)


def create_calc_run(store: Store, model: str, model_spec: dict[str, Any], run: str) -> None:
    """The Model ``model``, an Agent with two builtin tools on it, and the AgentRun ``run``."""
    store.create(_resource("Model", model, model_spec))
    agent = {
        "modelRef": {"name": model},
        "systemPrompt": "You answer with numbers.",
        "tools": [{"builtin": "calculate"}, {"builtin": "current_time"}],
        "limits": {"maxTurns": 4},
    }
    store.create(_resource("Agent", "calc", agent))
    task = {"agentRef": {"name": "calc"}, "task": "6*7 and the time?"}
    store.create(_resource("AgentRun", run, task))


def _resource(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """A started embedded runtime whose Model talks to a fake API that only takes API_KEY."""
    monkeypatch.setenv(KEY_ENV, API_KEY)
    with FakeMessagesAPI(api_key=API_KEY, model_ids=frozenset({MODEL_ID})) as api:
        runtime = Embedded(
            str(tmp_path / "state.db"), workers=8, retry=RetryPolicy(max_attempts=4, base=0.02)
        )
        with runtime:
            yield Deployment(runtime, api)


def test_tool_run_priced_cached_and_retried(
    deployment: Deployment, all_logs: list[logging.LogRecord]
) -> None:
    """Two turns around two parallel tool calls: exact usage and cost, caching, one retry."""
    api = deployment.api
    first = Reply(
        [
            text("Let me compute."),
            tool_use("calculate", {"expression": "6*7"}, id="toolu_calc"),
            tool_use("current_time", {"timezone": "UTC"}, id="toolu_time"),
        ],
        stop_reason="tool_use",
        usage={"input_tokens": 500, "output_tokens": 40, "cache_creation_input_tokens": 400},
    )
    second = Reply.text(
        "6*7 is 42.",
        usage={"input_tokens": 120, "output_tokens": 12, "cache_read_input_tokens": 400},
    )
    api.enqueue(first, Fault.status_code(529, "Overloaded"), second)
    deployment.apply()
    run = deployment.finished()
    status = run["status"]

    assert status["phase"] == "Succeeded", status
    assert status["result"] == "6*7 is 42."
    assert status["tokenUsage"] == {
        "input": 620,
        "output": 52,
        "cacheRead": 400,
        "cacheCreation": 400,
        "total": 1472,
    }
    # 620*3 + 52*15 + 400*0.3 + 400*3.75 = 4260 USD per million tokens
    assert status["costEstimate"] == "0.00426"
    assert status["modelAttempts"] == 1

    bodies = api.bodies()
    assert len(bodies) == 3  # turn 1, the overloaded try, turn 2
    retried, turn2 = bodies[1], bodies[2]
    assert retried == turn2  # the retry sends the same request
    assert turn2["system"] == [
        {"type": "text", "text": "You answer with numbers.", "cache_control": EPHEMERAL}
    ]
    assert turn2["tools"][-1]["cache_control"] == EPHEMERAL
    assert [t["name"] for t in turn2["tools"]] == ["calculate", "current_time"]
    assistant, results = turn2["messages"][-2], turn2["messages"][-1]
    assert assistant == {"role": "assistant", "content": first.content}
    assert {b["tool_use_id"] for b in results["content"]} == {"toolu_calc", "toolu_time"}
    assert results["content"][-1]["cache_control"] == EPHEMERAL
    calc = next(b for b in results["content"] if b["tool_use_id"] == "toolu_calc")
    assert "42" in json.dumps(calc["content"])

    traces = deployment.traces(run, all_logs)
    assert "toolu_calc" in traces and "dev.baton.tool.requested" in traces  # the scan sees the run
    assert API_KEY not in traces


def test_auth_failure_fails_run_naming_the_key_variable(
    deployment: Deployment, all_logs: list[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rejected key ends the run Failed, pointing at the variable, without the key."""
    wrong = "sk-ant-wrong-e2e-key-0000"
    monkeypatch.setenv(KEY_ENV, wrong)
    deployment.api.enqueue(Reply.text("never sent"))
    deployment.apply()
    run = deployment.finished()
    error = run["status"]["error"]

    assert run["status"]["phase"] == "Failed"
    assert error["reason"] == "ModelAuthenticationFailed"
    assert f"authentication failed: check environment variable {KEY_ENV}" in error["message"]
    assert len(deployment.api.requests) == 1  # permanent: not retried
    traces = deployment.traces(run, all_logs)
    assert wrong not in traces and API_KEY not in traces


def test_unknown_model_fails_run_with_model_not_found(
    deployment: Deployment, all_logs: list[logging.LogRecord]
) -> None:
    """A model id the API does not know ends the run Failed with 'model not found: <id>'."""
    deployment.apply(model_id="claude-nonexistent-1")
    run = deployment.finished()
    error = run["status"]["error"]

    assert run["status"]["phase"] == "Failed"
    assert error["reason"] == "ModelNotFound"
    assert "model not found: claude-nonexistent-1" in error["message"]
    assert API_KEY not in deployment.traces(run, all_logs)


def test_rate_limit_retried_after_retry_after(deployment: Deployment) -> None:
    """A 429 is retried after the server's retry-after, then the run succeeds."""
    deployment.api.enqueue(Fault.status_code(429, "slow down", retry_after=0.2), Reply.text("done"))
    deployment.apply()
    run = deployment.finished()

    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["modelAttempts"] == 1
    assert len(deployment.api.requests) == 2


def test_failed_tool_goes_back_as_error_result(deployment: Deployment) -> None:
    """A tool that fails answers the model with an is_error tool_result, and the run goes on."""
    bad = tool_use("calculate", {"expression": "1/"}, id="toolu_bad")
    deployment.api.enqueue(Reply([bad], stop_reason="tool_use"), Reply.text("Bad input, sorry."))
    deployment.apply()
    run = deployment.finished()

    assert run["status"]["phase"] == "Succeeded"
    result = deployment.api.bodies()[1]["messages"][-1]["content"][0]
    assert result["tool_use_id"] == "toolu_bad"
    assert result["is_error"] is True


def test_thinking_blocks_replayed_with_tool_results(deployment: Deployment) -> None:
    """With extended thinking, the next turn sends the thinking block back with its signature."""
    first = Reply(
        [
            thinking("6*7 needs the calculator.", signature="EqQBsig=="),
            tool_use("calculate", {"expression": "6*7"}, id="toolu_t"),
        ],
        stop_reason="tool_use",
    )
    deployment.api.enqueue(first, Reply.text("42"))
    deployment.apply(maxTokens=4096, thinking={"enabled": True, "budgetTokens": 2048})
    run = deployment.finished()

    assert run["status"]["phase"] == "Succeeded"
    first_body, second_body = deployment.api.bodies()
    assert first_body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert second_body["messages"][-2] == {"role": "assistant", "content": first.content}
