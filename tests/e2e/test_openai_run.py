"""An AgentRun on provider openai end to end in the embedded shape, through the real client.

The Model names a Secret; the embedded shape reads it from BATON_SECRET_OPENAI_API_KEY
(the convention MCP servers use). The run takes two turns around parallel tool calls,
survives a rate limit, and is priced exactly, cached prompt tokens apart.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from events.buses.inprocess import RetryPolicy
from functions.runtime.embedded import Embedded
from tests.e2e.conftest import run_docs, sample, wait_terminal
from tests.e2e.test_anthropic_run import Deployment, create_calc_run
from tests.fakes.openai_api import ChatReply, FakeOpenAIAPI, Fault, call

API_KEY = "sk-proj-e2e-k3y-that-must-never-leak"
MODEL_ID = "gpt-5.1-mini"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Embedded]:
    """A started embedded runtime with quick retries."""
    with Embedded(
        str(tmp_path / "state.db"), workers=8, retry=RetryPolicy(max_attempts=4, base=0.02)
    ) as started:
        yield started


def apply(runtime: Embedded, url: str) -> None:
    """A Model on the fake server keyed by Secret openai/api-key, an Agent, and a run."""
    spec = {
        "provider": "openai",
        "model": MODEL_ID,
        "apiKeySecretRef": {"name": "openai", "key": "api-key"},
        "baseURL": url,
        "pricing": {"inputPerMTok": 2, "outputPerMTok": 8, "cacheReadPerMTok": 0.5},
    }
    create_calc_run(runtime.store, "gpt", spec, "weather")


def test_openai_run_with_secret_from_env_priced_and_retried(
    runtime: Embedded,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: list[logging.LogRecord],
) -> None:
    """Parallel tool calls, a 429 retried, exact tokens and cost; the key in no trace."""
    monkeypatch.setenv("BATON_SECRET_OPENAI_API_KEY", API_KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIAPI(api_key=API_KEY, model_ids=frozenset({MODEL_ID})) as api:
        deployment = Deployment(runtime, api)  # type: ignore[arg-type]
        first = ChatReply.tools(
            call("calculate", {"expression": "6*7"}, id="call_calc"),
            call("current_time", {"timezone": "UTC"}, id="call_time"),
            prompt_tokens=500,
            completion_tokens=40,
        )
        second = ChatReply.text("6*7 is 42.", prompt_tokens=620, completion_tokens=12, cached=500)
        api.enqueue(first, Fault.status_code(429, "slow down", retry_after=0), second)
        apply(runtime, api.url)
        run = deployment.finished()
        status = run["status"]
        assert status["phase"] == "Succeeded", status
        assert status["result"] == "6*7 is 42."
        assert status["tokenUsage"] == {
            "input": 620,
            "output": 52,
            "cacheRead": 500,
            "cacheCreation": 0,
            "total": 1172,
        }
        # 620 x 2 + 52 x 8 + 500 x 0.5 = 1906 USD per million tokens
        assert status["costEstimate"] == "0.001906"
        assert status["modelAttempts"] == 1
        bodies = api.bodies()
        assert len(bodies) == 3 and bodies[1] == bodies[2]
        tools = [m for m in bodies[2]["messages"] if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in tools] == ["call_calc", "call_time"]
        assert "42" in json.dumps(tools[0]["content"])
        traces = deployment.traces(run, all_logs)
        assert "call_calc" in traces and API_KEY not in traces


def test_missing_secret_fails_the_run_naming_both_places(
    runtime: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Secret variable and no OPENAI_API_KEY: Failed, saying which variables to set."""
    monkeypatch.delenv("BATON_SECRET_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIAPI() as api:
        apply(runtime, api.url)
        run = Deployment(runtime, api).finished()  # type: ignore[arg-type]
        assert run["status"]["phase"] == "Failed"
        error = run["status"]["error"]
        assert "BATON_SECRET_OPENAI_API_KEY" in json.dumps(error)
        assert "OPENAI_API_KEY" in json.dumps(error)
        assert api.requests == []


def test_openai_sample_runs_offline_without_a_key(
    embedded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config/samples/openai.yaml with no key plays its script: 24*7 through calculate."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("BATON_SECRET_OPENAI_API_KEY", raising=False)
    rt = embedded()
    run_docs(rt, sample("openai"))
    run = wait_terminal(rt, "openai-demo")
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"] == "A week has 168 hours."
    assert run["status"]["costEstimate"] == "0.0002984"  # 610 x 0.4 + 34 x 1.6 per million


def test_openai_sample_talks_to_a_compatible_server_when_keyed(
    embedded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same sample, its Secret's variable set and baseURL at a server: the server answers."""
    monkeypatch.setenv("BATON_SECRET_OPENAI_API_KEY", API_KEY)
    with FakeOpenAIAPI(api_key=API_KEY) as api:
        api.enqueue(
            ChatReply.tools(call("calculate", {"expression": "24*7"})),
            ChatReply.text("168 hours, says the server."),
        )
        docs = sample("openai")
        docs[0]["spec"]["baseURL"] = api.url
        rt = embedded()
        run_docs(rt, docs)
        run = wait_terminal(rt, "openai-demo")
        assert run["status"]["result"] == "168 hours, says the server."
        assert api.bodies()[0]["model"] == "gpt-4.1-mini"
        assert "168" in api.bodies()[1]["messages"][-1]["content"]
