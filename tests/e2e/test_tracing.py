"""Transitions leave one OpenTelemetry trace per run, each span the child of the last."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.e2e.conftest import run_docs, sample, wait_terminal

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider() -> None:
    """A real SDK provider exporting to memory (set once: OTel allows one global provider)."""
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(tp)


def test_tools_run_is_one_trace_of_chained_spans(embedded: Any, monkeypatch: Any) -> None:
    """validate → prepare_context → call_llm → call_tool → call_llm → finalize → deliver."""
    monkeypatch.setenv("BATON_TRACING", "1")
    EXPORTER.clear()
    rt = embedded(sweep_interval=0)  # no timer: every span here belongs to the run
    run_docs(rt, sample("tools"))
    run = wait_terminal(rt, "tools-demo")
    every = list(EXPORTER.get_finished_spans())
    spans = [s for s in every if s.kind == trace.SpanKind.CONSUMER]
    by_type = {(s.name, s.attributes["cloudevents.event_type"]): s for s in spans}
    names = [s.name for s in sorted(spans, key=lambda s: s.start_time)]
    assert names == [
        "validate",
        "prepare_context",
        "call_llm",
        "call_tool",
        "call_llm",
        "finalize",
        "deliver",
    ]
    assert len({s.context.trace_id for s in spans}) == 1
    assert format(spans[0].context.trace_id, "032x") == run["status"]["traceID"]
    tool = by_type[("call_tool", "dev.baton.tool.requested")]
    first_llm = next(s for s in spans if s.name == "call_llm" and s.attributes["baton.step"] == "1")
    assert tool.parent.span_id == first_llm.context.span_id
    # Model and tool calls are spans of their own inside the run's trace (GenAI conventions).
    chats = [s for s in every if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert [(c.name, c.attributes["gen_ai.usage.input_tokens"]) for c in chats] == [
        ("chat claude-sonnet-4-5", 310),
        ("chat claude-sonnet-4-5", 402),
    ]
    assert chats[0].parent.span_id == first_llm.context.span_id
    tools = [s for s in every if s.attributes.get("gen_ai.operation.name") == "execute_tool"]
    assert [(t.name, t.attributes["gen_ai.tool.name"]) for t in tools] == [
        ("execute_tool current_time", "current_time")
    ]
    assert tools[0].parent.span_id == tool.context.span_id
    assert {s.context.trace_id for s in every} == {spans[0].context.trace_id}
