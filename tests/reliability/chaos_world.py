"""What every chaos run does: two model turns (the real anthropic client against the fake
Messages API) around one call of ``record_effect`` on a real MCP stdio server.

The fake API answers from the request alone (a tool_use first, the answer once a tool
result is in the transcript), with a usage that depends only on the step, so a model call
made twice is seen twice in its log and the tokens a run should count are known.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.envelope import make_event
from functions.models.anthropic import IDEMPOTENCY_HEADER
from functions.route import run_name_for
from tests.fakes.effect_tool import TOOL, stdio_command
from tests.fakes.messages_api import RecordedRequest, Reply, tool_use

__all__ = [
    "KEY_ENV",
    "MODEL_LATENCY",
    "USAGE",
    "answer",
    "call_key",
    "manifests",
    "request_event",
    "run_name",
]

KEY_ENV: Final = "BATON_CHAOS_API_KEY"  # the Model's apiKeyEnv; the value is a fake key
FAKE_KEY: Final = "sk-chaos-fake"
MODEL_LATENCY: Final = 0.1  # seconds the fake API takes per reply: a run's own work is 2x this
USAGE: Final = {
    1: {"input_tokens": 100, "output_tokens": 20},
    2: {"input_tokens": 150, "output_tokens": 12},
}
NAMESPACE: Final = "default"


def manifests(api_url: str, effects: Path) -> list[dict[str, Any]]:
    """The Model (fake API), MCPServer (the effect tool) and Agent every chaos run uses."""
    command, args = stdio_command(effects)
    meta = {"namespace": NAMESPACE}
    return [
        {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "Model",
            "metadata": {"name": "chaos-model", **meta},
            "spec": {
                "provider": "anthropic",
                "model": "claude-chaos",
                "baseURL": api_url,
                "apiKeyEnv": KEY_ENV,
                "maxTokens": 256,
            },
        },
        {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "MCPServer",
            "metadata": {"name": "effects", **meta},
            "spec": {"transport": "stdio", "command": command, "args": args, "timeoutSeconds": 20},
        },
        {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "Agent",
            "metadata": {"name": "chaos", **meta},
            "spec": {
                "modelRef": {"name": "chaos-model"},
                "systemPrompt": "Record the effect you are asked for, then say so.",
                "tools": [{"mcpServer": "effects"}],
                "limits": {"maxTurns": 4},
                "runHistoryLimit": 1000,  # sweep must keep every finished run for the checker
            },
        },
    ]


def request_event(number: int) -> BaseCloudEvent:
    """``run.requested`` for chaos run ``number`` (a client's request, retried with its id)."""
    data = {"agent": "chaos", "task": f"Record effect {number}.", "namespace": NAMESPACE}
    return make_event(types.RUN_REQUESTED, "/chaos/client", data, id_=f"chaos-request-{number}")


def run_name(event: BaseCloudEvent) -> str:
    """The AgentRun route creates for a request."""
    data = event.get_data()
    assert isinstance(data, dict)
    return run_name_for(event, data)


def call_key(request: RecordedRequest) -> str:
    """The idempotency key baton sent with a model call: ``<run uid>/<step>/call_llm``."""
    return request.headers.get(IDEMPOTENCY_HEADER, "")


def _step(request: RecordedRequest) -> int:
    return 1 + sum(1 for m in request.body.get("messages", []) if m.get("role") == "assistant")


def answer(request: RecordedRequest) -> Reply:
    """The fake API's reply: call the tool at step 1, answer with its result at step 2."""
    step = _step(request)
    usage = USAGE.get(step, USAGE[2])
    if step == 1:
        content = request.body["messages"][-1]["content"]
        blocks = content if isinstance(content, list) else [{"text": content}]
        task = " ".join(str(b.get("text", "")) for b in blocks)
        return Reply([tool_use(TOOL, {"note": task})], stop_reason="tool_use", usage=usage)
    return Reply.text("Done: the effect is recorded.", usage=usage)
