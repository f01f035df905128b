"""Benchmark: what the Anthropic adapter adds to a model call, and what importing it costs.

Run: .venv/bin/python -m tests.bench.model_bench [N]   (starts its own fake Messages API)
or call ``bench_adapter_overhead(n)`` from the bench harness. No assertions; sequential
calls, so the figures are latencies. Every figure sits beside the bare floor measured in
the same run:

- raw: ``http.client`` POST of the same JSON body to the fake server on a kept-alive
  connection, reading the JSON reply: the server's own round trip.
- adapter: ``AnthropicModel.complete`` against the same server (request build, SDK, HTTP,
  response parse); ``overhead`` is adapter minus raw at each percentile.
- build / parse: ``build_params`` alone, and SDK validation + ``reply_from_message`` alone.
- import: fresh interpreters importing ``functions.models.anthropic`` (must not pull in the
  SDK), ``anthropic`` itself, and import + client + first call.
"""

from __future__ import annotations

import http.client
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from functions.models.anthropic import AnthropicModel
from functions.models.anthropic_wire import AnthropicSettings, build_params, reply_from_message
from functions.models.keys import ApiKey
from functions.ports import ModelRequest, ToolSpec
from tests.fakes.messages_api import FakeMessagesAPI, Reply, text, tool_use

__all__ = ["bench_adapter_overhead", "bench_import_cost", "main"]

WARMUP = 30
KEY = "sk-bench"
TOOLS = [
    ToolSpec(
        f"tool_{i}", f"Tool number {i}", {"type": "object", "properties": {"x": {"type": "string"}}}
    )
    for i in range(8)
]
# A third-turn transcript: a task, a tool round trip, and the next question.
REQUEST = ModelRequest(
    system="You are a careful assistant. " * 40,
    messages=[
        {"role": "user", "content": "Find the answer. " * 50},
        {
            "role": "assistant",
            "content": [text("Checking."), tool_use("tool_1", {"x": "a"}, id="toolu_1")],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "r" * 500}],
        },
    ],
    tools=TOOLS,
    idempotency_key="uid/3/call_llm",
)
REPLY = Reply(
    [text("Two more lookups."), tool_use("tool_2", {"x": "b"}), tool_use("tool_3", {"x": "c"})],
    stop_reason="tool_use",
    usage={"input_tokens": 900, "output_tokens": 60, "cache_read_input_tokens": 800},
)


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50_ms": statistics.median(ordered) * 1000, "p99_ms": p99 * 1000}


def _time(fn: Callable[[], object], n: int) -> list[float]:
    for _ in range(WARMUP):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def _model(url: str, stream: bool = False) -> AnthropicModel:
    spec = {"provider": "anthropic", "model": "claude-sonnet-5-5", "baseURL": url, "stream": stream}
    return AnthropicModel({"metadata": {"name": "bench"}, "spec": spec}, ApiKey(KEY, "bench"))


def bench_adapter_overhead(n: int = 500) -> dict[str, Any]:
    """Per-call latency of raw HTTP vs the adapter (plain and streamed) vs build/parse alone."""
    import anthropic

    with FakeMessagesAPI(default=REPLY) as api:
        settings = AnthropicSettings.from_resource({"spec": {"model": "claude-sonnet-5-5"}})
        params = build_params(settings, REQUEST)
        payload = json.dumps({k: v for k, v in params.items() if k != "extra_body"}).encode()
        address = urlparse(api.url)
        conn = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port)
        reply_body: dict[str, Any] = {}

        def raw() -> None:
            conn.request("POST", "/v1/messages", payload, {"content-type": "application/json"})
            reply_body.update(json.loads(conn.getresponse().read()))

        result = adapter_beside_raw(raw, lambda **kw: _model(api.url, **kw), n)
        conn.close()
    build = _time(lambda: build_params(settings, REQUEST), n)
    parse = _time(lambda: reply_from_message(anthropic.types.Message.model_validate(reply_body)), n)
    return result | {"build_params": _ms(build), "sdk_validate_and_parse": _ms(parse)}


def adapter_beside_raw(
    raw: Callable[[], object], model: Callable[..., Any], n: int
) -> dict[str, Any]:
    """Latencies of ``raw`` and of ``model()`` plain and streamed, with the adapter's overhead."""
    raw_samples = _time(raw, n)
    plain, streamed = model(), model(stream=True)
    adapter = _time(lambda: plain.complete(REQUEST), n)
    stream = _time(lambda: streamed.complete(REQUEST), n)
    plain.close()
    streamed.close()
    result: dict[str, Any] = {
        "n": n,
        "raw": _ms(raw_samples),
        "adapter": _ms(adapter),
        "adapter_stream": _ms(stream),
    }
    for name in ("adapter", "adapter_stream"):
        result[f"{name}_overhead"] = {
            k: result[name][k] - result["raw"][k] for k in ("p50_ms", "p99_ms")
        }
    return result


def _fresh(code: str, runs: int) -> float:
    """Median seconds a fresh interpreter reports for ``code`` (which prints its own timing)."""
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def bench_import_cost(runs: int = 5) -> dict[str, Any]:
    """Import cost in fresh interpreters: the adapter module, the SDK, and a first call."""
    adapter = (
        "import time,sys; t=time.perf_counter(); import functions.models.anthropic; "
        "d=time.perf_counter()-t; assert 'anthropic' not in sys.modules, 'SDK imported'; print(d)"
    )
    sdk = "import time; t=time.perf_counter(); import anthropic; print(time.perf_counter()-t)"
    first_call = (
        "import time; t=time.perf_counter()\n"
        "from tests.bench.model_bench import _model, REQUEST\n"
        "from tests.fakes.messages_api import FakeMessagesAPI, Reply\n"
        "api = FakeMessagesAPI(default=Reply.text('hi')).start(); t=time.perf_counter()\n"
        "_model(api.url).complete(REQUEST); print(time.perf_counter()-t)"
    )
    return {
        "import_adapter_ms": _fresh(adapter, runs) * 1000,
        "import_sdk_ms": _fresh(sdk, runs) * 1000,
        "first_call_cold_ms": _fresh(first_call, runs) * 1000,
    }


def main() -> None:
    """Print both benchmarks as JSON."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    print(
        json.dumps({"adapter": bench_adapter_overhead(n), "import": bench_import_cost()}, indent=2)
    )


if __name__ == "__main__":
    main()
