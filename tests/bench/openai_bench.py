"""Benchmark: what the OpenAI adapter adds to a model call, beside a raw HTTP POST.

Run: .venv/bin/python -m tests.bench.openai_bench [N]   (starts its own fake OpenAI API)
or call ``bench_openai_adapter(n)`` from the bench harness. No assertions; sequential calls,
so the figures are latencies, each beside the bare floor measured in the same run:

- raw: ``http.client`` POST of the same JSON body to the fake server on a kept-alive
  connection, reading the JSON reply: the server's own round trip.
- adapter: ``OpenAIModel.complete`` against the same server (request build, SDK, HTTP,
  response parse), plain and streamed; ``overhead`` is adapter minus raw per percentile.
"""

from __future__ import annotations

import http.client
import json
import sys
from typing import Any
from urllib.parse import urlparse

from functions.models.keys import ApiKey
from functions.models.openai import OpenAIModel
from functions.models.openai_wire import OpenAISettings, build_params
from tests.bench.model_bench import REQUEST, adapter_beside_raw
from tests.fakes.openai_api import ChatReply, FakeOpenAIAPI, call

__all__ = ["bench_openai_adapter", "main"]

KEY = "sk-bench"
MODEL_ID = "gpt-bench"
# The same shape as the Anthropic benchmark's reply: text and two tool calls, cached prompt.
REPLY = ChatReply.tools(
    call("tool_2", {"x": "b"}),
    call("tool_3", {"x": "c"}),
    content="Two more lookups.",
    prompt_tokens=1700,
    completion_tokens=60,
    cached=800,
)


def _model(url: str, stream: bool = False) -> OpenAIModel:
    spec = {"provider": "openai", "model": MODEL_ID, "baseURL": url, "stream": stream}
    return OpenAIModel({"metadata": {"name": "bench"}, "spec": spec}, ApiKey(KEY, "bench"))


def bench_openai_adapter(n: int = 500) -> dict[str, Any]:
    """Per-call latency of raw HTTP vs the adapter, plain and streamed."""
    with FakeOpenAIAPI(default=REPLY) as api:
        params = build_params(OpenAISettings(model=MODEL_ID), REQUEST)
        payload = json.dumps(params).encode()
        address = urlparse(api.url)
        conn = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port)
        headers = {"content-type": "application/json", "authorization": f"Bearer {KEY}"}

        def raw() -> None:
            conn.request("POST", "/v1/chat/completions", payload, headers)
            json.loads(conn.getresponse().read())

        result = adapter_beside_raw(raw, lambda **kw: _model(api.url, **kw), n)
        conn.close()
    return result


def main() -> None:
    """Print the benchmark as JSON."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    print(json.dumps(bench_openai_adapter(n), indent=2))


if __name__ == "__main__":
    main()
