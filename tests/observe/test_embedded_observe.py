"""An embedded run leaves Events on itself and moves the Prometheus metrics."""

from __future__ import annotations

import time
from typing import Any

from functions.observe.recorder import RecordedEvent
from functions.observe.wiring import event_backend_for
from functions.runtime.embedded import Embedded
from tests.e2e.conftest import docs_of, run_docs, sample, wait_terminal
from tests.observe.conftest import metric

DENY = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: risky-model}
spec:
  provider: scripted
  model: risky-1
  script:
    - text: "Let me clean up."
      toolCalls: [{id: call-1, name: delete_runs, input: {}}]
    - text: "I was not allowed to."
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: tidy}
spec:
  modelRef: {name: risky-model}
  tools: [{builtin: calculate}]
  toolPolicy: {deny: ["delete_*"]}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: deny-run}
spec:
  agentRef: {name: tidy}
  task: Tidy up.
"""


def _events(rt: Embedded, name: str, reason: str, timeout: float = 5) -> list[RecordedEvent]:
    """The run's Events once one with ``reason`` is there."""
    backend = event_backend_for(rt.store)
    assert backend is not None
    deadline = time.monotonic() + timeout
    while True:
        events = backend.read("default", name)
        if any(e.reason == reason for e in events) or time.monotonic() > deadline:
            return events
        time.sleep(0.02)


def test_a_run_tells_its_story_in_events(embedded: Any) -> None:
    """Validated, Started and Succeeded, each from the function that did it."""
    rt = embedded(sweep_interval=0)
    run_docs(rt, sample("tools"))
    wait_terminal(rt, "tools-demo")
    events = _events(rt, "tools-demo", "Succeeded")
    told = [(e.reason, e.type, e.component, e.count) for e in events]
    assert told == [
        ("Validated", "Normal", "validate", 1),
        ("Started", "Normal", "validate", 1),
        ("Succeeded", "Normal", "finalize", 1),
    ]
    assert "2 model turns, 1 tool call, 791 tokens" in events[-1].message
    assert events[0].first <= events[-1].last


def test_a_denied_tool_is_a_warning_event(embedded: Any) -> None:
    """toolPolicy deny: the run goes on, and its Events say which call was denied."""
    rt = embedded(sweep_interval=0)
    run_docs(rt, docs_of(DENY))
    assert wait_terminal(rt, "deny-run")["status"]["phase"] == "Succeeded"
    denied = [e for e in _events(rt, "deny-run", "ToolDenied") if e.reason == "ToolDenied"]
    assert [(e.type, e.message, e.component) for e in denied] == [
        ("Warning", "tool delete_runs is denied by the agent's tool policy", "call_tool")
    ]


def test_repeated_events_are_counted_not_duplicated(embedded: Any) -> None:
    """The same reason and message again bumps count and lastTimestamp on one record."""
    from functions.observe.recorder import EventRecorder
    from functions.observe.run_events import RunEvent

    rt = embedded(sweep_interval=0)
    run = run_docs(rt, sample("tools"))[0]
    backend = event_backend_for(rt.store)
    assert backend is not None
    recorder = EventRecorder(backend)
    for _ in range(3):
        recorder.record(
            run, RunEvent("RetryingModel", "the model call failed; retrying", "Warning")
        )
        time.sleep(0.01)
    recorder.record(run, RunEvent("RetryingModel", "another cause; retrying", "Warning"))
    retries = [e for e in recorder.read("default", "tools-demo") if e.reason == "RetryingModel"]
    recorder.close()
    assert [(e.message, e.count) for e in retries] == [
        ("the model call failed; retrying", 3),
        ("another cause; retrying", 1),
    ]
    assert retries[0].last > retries[0].first


def _run_metrics() -> dict[str, float]:
    """The counters one tools-demo run moves, as they stand now."""
    model = "claude-sonnet-4-5"
    return {
        "finished": metric(
            "baton_runs_finished_total", namespace="default", phase="Succeeded", reason="Completed"
        ),
        "input": metric("baton_model_tokens_total", model=model, kind="input"),
        "output": metric("baton_model_tokens_total", model=model, kind="output"),
        "cost": metric("baton_model_cost_usd_total", model=model),
        "tool": metric("baton_tool_calls_total", tool="current_time", outcome="ok"),
        "llm": metric("baton_transition_duration_seconds_count", function="call_llm"),
        "model_calls": metric("baton_model_call_duration_seconds_count", model=model, outcome="ok"),
    }


def test_a_run_moves_the_metrics(embedded: Any) -> None:
    """Runs by phase and reason, transitions by function, tokens, cost and tools by outcome."""
    before = _run_metrics()
    rt = embedded(sweep_interval=0)
    run_docs(rt, sample("tools"))
    wait_terminal(rt, "tools-demo")
    after = _run_metrics()
    moved = {k: round(after[k] - before[k], 6) for k in before}
    assert moved == {
        "finished": 1,
        "input": 712,
        "output": 79,
        "cost": 0.003321,
        "tool": 1,
        "llm": 2,
        "model_calls": 2,
    }
    assert metric("baton_in_flight", kind="transition") == 0


def test_a_failed_run_counts_its_reason(embedded: Any) -> None:
    """A run whose Agent has too few turns ends Failed and is counted under that reason."""
    docs = docs_of(DENY.replace('toolPolicy: {deny: ["delete_*"]}', "limits: {maxTurns: 1}"))
    before = metric("baton_runs_finished_total", namespace="default", phase="Failed",
                    reason="MaxTurnsExceeded")  # fmt: skip
    rt = embedded(sweep_interval=0)
    run_docs(rt, docs)
    run = wait_terminal(rt, "deny-run")
    assert run["status"]["phase"] == "Failed"
    reason = run["status"]["error"]["reason"]
    assert reason == "MaxTurnsExceeded"
    after = metric("baton_runs_finished_total", namespace="default", phase="Failed", reason=reason)
    assert after - before == 1
    failed = _events(rt, "deny-run", reason)
    assert (failed[-1].reason, failed[-1].type) == (reason, "Warning")


def test_a_deleted_runs_events_go_with_it(embedded: Any) -> None:
    """Deleting a run and pruning leaves none of its Events behind."""
    rt = embedded(sweep_interval=0)
    run_docs(rt, sample("tools"))
    wait_terminal(rt, "tools-demo")
    backend = event_backend_for(rt.store)
    assert backend is not None
    assert _events(rt, "tools-demo", "Succeeded")
    rt.store.delete("AgentRun", "default", "tools-demo")
    assert backend.prune() == 3  # type: ignore[attr-defined]
    assert backend.read("default", "tools-demo") == []


FAILOVER = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: flaky}
spec:
  provider: scripted
  model: flaky-1
  failoverAttempts: 1
  script:
    - error: {status: 503, message: down}
---
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: steady}
spec:
  provider: scripted
  model: steady-1
  script:
    - text: "Answered by the fallback."
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: resilient}
spec:
  modelRef: {name: flaky}
  fallbackModelRefs: [{name: steady}]
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: failover-run}
spec:
  agentRef: {name: resilient}
  task: Answer.
"""


def test_a_failover_is_measured_per_model(embedded: Any) -> None:
    """The model that failed and the one that answered each show under their own name."""
    before = {
        "flaky": metric(
            "baton_model_call_duration_seconds_count", model="flaky-1", outcome="retry"
        ),
        "steady": metric("baton_model_call_duration_seconds_count", model="steady-1", outcome="ok"),
    }
    rt = embedded(sweep_interval=0)
    run_docs(rt, docs_of(FAILOVER))
    assert wait_terminal(rt, "failover-run")["status"]["phase"] == "Succeeded"
    after = {
        "flaky": metric(
            "baton_model_call_duration_seconds_count", model="flaky-1", outcome="retry"
        ),
        "steady": metric("baton_model_call_duration_seconds_count", model="steady-1", outcome="ok"),
    }
    assert {k: after[k] - before[k] for k in before} == {"flaky": 1, "steady": 1}
