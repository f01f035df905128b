"""Traces leave the process: the real OTLP/HTTP exporter, captured by a loopback collector."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from functions.resources.sqlite import SqliteStore
from tests.e2e.conftest import SAMPLES
from tests.fixtures.http import serve_function
from tests.fixtures.otlp import OTLPCollector, Span

REPO = Path(__file__).resolve().parents[2]
PRODUCER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN = "00f067aa0ba902b7"
CONSUMER, SERVER = 5, 2  # OTLP SpanKind values

SLOW_TOOLS = (
    (SAMPLES / "tools.yaml")
    .read_text()
    .replace(
        "      usage: {input: 310, output: 48}",
        "      usage: {input: 310, output: 48}\n      delayMs: 1500",
    )
)


def _env(collector: OTLPCollector) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BATON_TRACING"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
        ANTHROPIC_API_KEY="",
        PYTHONPATH=str(REPO),
    )
    return env


def _names(spans: list[Span]) -> list[str]:
    return [s.name for s in spans]


def test_baton_run_exports_one_trace_per_run(tmp_path: Path) -> None:
    """Every transition, model call and tool call of `baton run` in one exported trace, no ticks."""
    (tmp_path / "tools.yaml").write_text(SLOW_TOOLS)
    db = tmp_path / "state.db"
    with OTLPCollector() as collector:
        done = subprocess.run(
            [sys.executable, "-m", "functions.cli.main", "--db", str(db), "run",
             str(tmp_path / "tools.yaml")],
            capture_output=True, text=True, env=_env(collector), cwd=tmp_path, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        spans = collector.wait_for(lambda s: "finalize" in _names(s), timeout=10)
    run = SqliteStore(str(db)).get("AgentRun", "default", "tools-demo")
    assert {s.trace_id for s in spans} == {run["status"]["traceID"]}
    transitions = [s.name for s in spans if s.kind == CONSUMER]
    assert sorted(transitions) == sorted(
        ["validate", "prepare_context", "call_llm", "call_tool", "call_llm", "finalize", "deliver"]
    )  # no sweep: its ticks (one a second, and this run took over 1.5 s) open no trace
    chats = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert [
        (c.attributes["gen_ai.request.model"], c.attributes["gen_ai.usage.input_tokens"],
         c.attributes["gen_ai.usage.output_tokens"])
        for c in chats
    ] == [("claude-sonnet-4-5", 310, 48), ("claude-sonnet-4-5", 402, 31)]  # fmt: skip
    tool = next(s for s in spans if s.attributes.get("gen_ai.operation.name") == "execute_tool")
    assert tool.attributes["gen_ai.tool.name"] == "current_time"
    assert {s.service for s in spans} == {"baton"}


def _post_request(url: str, event_id: str, headers: dict[str, str]) -> int:
    body = json.dumps({"agent": "sre", "task": "What time is it?"}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/")))
    conn.request("POST", "/", body=body, headers={
        "ce-specversion": "1.0", "ce-type": "dev.baton.run.requested", "ce-source": "/producer",
        "ce-id": event_id, "content-type": "application/json", **headers,
    })  # fmt: skip
    status = conn.getresponse().status
    conn.close()
    return status


def test_route_continues_the_producers_trace(tmp_path: Path) -> None:
    """A request with a W3C traceparent (HTTP header or CloudEvent extension): route and the
    whole run are spans of the producer's trace, and the run says so in status.traceID."""
    db = tmp_path / "state.db"
    store = SqliteStore(str(db))
    from functions.cli.manifests import apply, load_files

    apply(store, [d for d in load_files([str(SAMPLES / "tools.yaml")]) if d["kind"] != "AgentRun"])
    header_trace = PRODUCER_TRACE
    extension_trace = "0af7651916cd43dd8448eb211c80319c"
    with OTLPCollector() as collector:
        env = {**_env(collector), "BATON_OFFLINE_MODELS": "1"}
        with serve_function(None, store=f"sqlite:///{db}", log_dir=tmp_path, env=env) as served:
            assert _post_request(served.url, "req-h", {
                "traceparent": f"00-{header_trace}-{PRODUCER_SPAN}-01"}) == 202  # fmt: skip
            assert _post_request(served.url, "req-e", {
                "ce-traceparent": f"00-{extension_trace}-{PRODUCER_SPAN}-01"}) == 202  # fmt: skip
            deadline = time.monotonic() + 30
            while sum(
                (r.get("status") or {}).get("phase") == "Succeeded"
                for r in store.list("AgentRun", "default")
            ) < 2:  # fmt: skip
                assert time.monotonic() < deadline, served.output()
                time.sleep(0.05)
            spans = collector.wait_for(
                lambda s: sum(x.name == "deliver" for x in s) >= 2, timeout=15
            )
    runs = store.list("AgentRun", "default")
    assert sorted(r["status"]["traceID"] for r in runs) == sorted([header_trace, extension_trace])
    for trace_id in (header_trace, extension_trace):
        mine = [s for s in spans if s.trace_id == trace_id]
        route = next(s for s in mine if s.name == "route")
        names = {s.name for s in mine}
        assert {
            "route",
            "validate",
            "prepare_context",
            "call_llm",
            "call_tool",
            "finalize",
        } <= names
        assert route.kind == CONSUMER
        if trace_id == header_trace:  # the Flask SERVER span carries the header on
            server = next(s for s in mine if s.kind == SERVER)
            assert server.parent_id == PRODUCER_SPAN
            assert route.parent_id == server.span_id
        else:
            assert route.parent_id == PRODUCER_SPAN


SHUTDOWN = """
import sys
from functions import tracing
from opentelemetry import trace
tracing.setup()
with trace.get_tracer("t").start_as_current_span("buffered"):
    pass
tracing.shutdown()
with trace.get_tracer("t").start_as_current_span("after"):
    pass
print("shut down", flush=True)
sys.stdin.read()  # alive until the test has looked: an exit would flush the batch too
"""


def test_shutdown_exports_what_is_buffered_and_stops() -> None:
    """tracing.shutdown sends the spans still in the batch at once; later spans go nowhere."""
    with OTLPCollector() as collector:
        env = {**_env(collector), "OTEL_BSP_SCHEDULE_DELAY": "600000"}  # no timed export
        proc = subprocess.Popen(
            [sys.executable, "-c", SHUTDOWN], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=env, cwd=REPO,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stdin is not None
        try:
            assert proc.stdout.readline().strip() == "shut down"
            spans = collector.wait_for(lambda s: bool(s), timeout=10)
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)
        assert proc.returncode == 0
        assert _names(spans) == ["buffered"]
        assert _names(collector.spans) == ["buffered"]  # "after", and the exit, sent nothing
