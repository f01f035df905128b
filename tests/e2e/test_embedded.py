"""End-to-end runs on the embedded shape: SQLite store, in-process bus, every function."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from events.delivery import RetryPolicy
from functions.ports import Invalid
from functions.runtime.embedded import Embedded
from tests.e2e.conftest import docs_of, run_docs, sample, wait_terminal

CALC = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: calc-model}
spec:
  provider: scripted
  script:
    - text: "Computing."
      toolCalls:
        - {name: calculate, input: {expression: "6 * 7"}}
        - {name: calculate, input: {expression: "2 ** 10"}}
      usage: {input: 100, output: 20}
    - text: "6 * 7 and 2 ** 10 are {{last_tool_result}}."
      usage: {input: 150, output: 12}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: calc}
spec:
  modelRef: {name: calc-model}
  tools: [{builtin: calculate}]
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: calc-run}
spec:
  agentRef: {name: calc}
  task: What are 6*7 and 2**10?
"""


def test_hello_sample_succeeds(embedded: Any) -> None:
    """hello.yaml answers in one model turn with the scripted reply."""
    rt = embedded()
    run_docs(rt, sample("hello"))
    run = wait_terminal(rt, "hello")
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"].startswith("Hello! I am a baton agent.")
    assert run["status"]["step"] == 1
    assert run["status"]["tokenUsage"] == {
        "input": 42,
        "output": 17,
        "total": 59,
        "cacheRead": 0,
        "cacheCreation": 0,
    }
    assert run["status"]["costEstimate"] == "0.000381"


def test_tools_sample_succeeds_with_the_tool_result_in_the_answer(embedded: Any) -> None:
    """tools.yaml calls current_time, then answers with what the tool returned."""
    rt = embedded()
    run_docs(rt, sample("tools"))
    run = wait_terminal(rt, "tools-demo")
    assert run["status"]["phase"] == "Succeeded"
    journal = dict(rt.store.read_journal(run))
    tool_output = journal["tool/1/toolu_s01_0"]["content"]
    assert tool_output.endswith("+00:00")
    assert run["status"]["result"] == f"The current UTC time is {tool_output}."
    assert run["status"]["toolCalls"] == 1
    assert run["status"]["durationMs"] >= 0


def test_tools_sample_event_chain_in_order(embedded: Any) -> None:
    """`baton events` order: add, accepted, llm, tool, tool done, llm, completed, finished."""
    rt = embedded()
    run_docs(rt, sample("tools"))
    run = wait_terminal(rt, "tools-demo")
    logged = rt.events.read("default/tools-demo")
    assert [e.type for e in logged] == [
        "dev.knative.apiserver.resource.add",
        "dev.baton.run.accepted",
        "dev.baton.llm.requested",
        "dev.baton.tool.requested",
        "dev.baton.tool.completed",
        "dev.baton.llm.requested",
        "dev.baton.run.completed",
        "dev.baton.run.finished",
    ]
    uid = run["metadata"]["uid"]
    # One id per need of the run (uid, step, type, key), whoever emitted it.
    assert [e.id for e in logged[1:]] == [
        f"{uid}/0/run.accepted",
        f"{uid}/1/llm.requested",
        f"{uid}/1/tool.requested/toolu_s01_0",
        f"{uid}/1/tool.completed/toolu_s01_0",
        f"{uid}/2/llm.requested",
        f"{uid}/2/run.completed",
        f"{uid}/2/run.finished",
    ]
    assert {e.source for e in logged[1:]} == {"/baton/runs/default/tools-demo"}


def _outcome(rt: Embedded, name: str) -> dict[str, Any]:
    """What a user sees of a finished run, minus times and ids."""
    run = wait_terminal(rt, name)
    status = copy.deepcopy(run["status"])
    for volatile in (
        "startedAt",
        "completedAt",
        "durationMs",
        "traceID",
        "lastEventTime",
        "conditions",
    ):
        status.pop(volatile, None)
    journal = [(k, json.dumps(v, sort_keys=True)) for k, v in rt.store.read_journal(run)]
    return {"status": status, "journal": sorted(journal)}


def test_every_event_delivered_twice_gives_the_same_final_state(embedded: Any) -> None:
    """At-least-once for real: each event is handled twice, the outcome is unchanged."""
    once = embedded()
    run_docs(once, docs_of(CALC))
    expected = _outcome(once, "calc-run")

    twice = embedded(dedupe_window=0)
    seen: set[str] = set()

    def redeliver(event: Any) -> None:
        if event.get_id() not in seen:
            seen.add(event.get_id())
            twice.bus.publish(event)

    twice.bus.tap(redeliver)
    run_docs(twice, docs_of(CALC))
    assert _outcome(twice, "calc-run") == expected
    assert expected["status"]["tokenUsage"]["total"] == 282
    assert expected["status"]["toolCalls"] == 2
    assert expected["status"]["result"] == "6 * 7 and 2 ** 10 are 42\n1024."
    assert len(seen) >= 9  # every event of the chain really went round twice


def test_invalid_spec_is_refused_with_the_field_named(embedded: Any) -> None:
    """An AgentRun without agentRef never enters the store; the error names the field."""
    rt = embedded()
    bad = docs_of(
        "apiVersion: baton.dev/v1alpha1\nkind: AgentRun\nmetadata: {name: bad}\nspec: {task: hi}\n"
    )
    with pytest.raises(Invalid) as err:
        run_docs(rt, bad)
    assert "spec.agentRef" in str(err.value)
    assert rt.store.list("AgentRun") == []


def test_run_waits_pending_until_its_agent_appears(embedded: Any) -> None:
    """Unknown agentRef: Pending with a readable reason, then it completes once the Agent exists."""
    rt = embedded()
    docs = sample("hello")
    agent = next(d for d in docs if d["kind"] == "Agent")
    run_docs(rt, [d for d in docs if d["kind"] != "Agent"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = rt.store.get("AgentRun", "default", "hello").get("status") or {}
        if status.get("phase") == "Pending":
            break
        time.sleep(0.02)
    accepted = next(c for c in status["conditions"] if c["type"] == "Accepted")
    assert accepted["reason"] == "AgentNotFound"
    assert "greeter" in accepted["message"]
    run_docs(rt, [agent])
    assert wait_terminal(rt, "hello")["status"]["phase"] == "Succeeded"


LOOP = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: loop-model}
spec:
  provider: scripted
  script:
    - text: "Again."
      toolCalls: [{name: calculate, input: {expression: "1 + 1"}}]
      delayMs: DELAY
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: looper}
spec:
  modelRef: {name: loop-model}
  tools: [{builtin: calculate}]
  limits: {maxTurns: 3}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: loop-run}
spec:
  agentRef: {name: looper}
  task: Never stop.
  TIMEOUT
"""


def test_max_turns_ends_the_run_failed_with_a_reason(embedded: Any) -> None:
    """A model that never stops calling tools is stopped at maxTurns."""
    rt = embedded()
    run_docs(rt, docs_of(LOOP.replace("DELAY", "0").replace("TIMEOUT", "")))
    run = wait_terminal(rt, "loop-run")
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["error"]["reason"] == "MaxTurnsExceeded"
    assert "maxTurns (3)" in run["status"]["error"]["message"]
    assert run["status"]["toolCalls"] == 3


def test_timeout_ends_the_run_failed_with_a_reason(embedded: Any) -> None:
    """A run slower than spec.timeout is failed by sweep with reason Timeout."""
    rt = embedded()
    run_docs(rt, docs_of(LOOP.replace("DELAY", "400").replace("TIMEOUT", "timeout: 1s")))
    run = wait_terminal(rt, "loop-run")
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["error"]["reason"] == "Timeout"
    assert "timeout (1s)" in run["status"]["error"]["message"]


def test_permanent_model_error_fails_the_run_with_the_reason(embedded: Any) -> None:
    """A model answering 401 fails the run at once (no retries) with the cause."""
    rt = embedded(retry=RetryPolicy(max_attempts=3, base=0.01))
    text = LOOP.replace(
        "      delayMs: DELAY\n", "      error: {status: 401, message: bad credentials}\n"
    )
    run_docs(rt, docs_of(text.replace("TIMEOUT", "")))
    run = wait_terminal(rt, "loop-run")
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["error"]["reason"] == "ModelError"
    assert "401" in run["status"]["error"]["message"]
    assert "modelAttempts" not in run["status"]


def test_transient_model_error_is_retried_then_fails_with_the_count(embedded: Any) -> None:
    """An always-overloaded model is retried, each attempt visible, then the run fails."""
    rt = embedded(retry=RetryPolicy(max_attempts=3, base=0.01))
    text = LOOP.replace(
        "      delayMs: DELAY\n", "      error: {status: 529, message: overloaded}\n"
    )
    run_docs(rt, docs_of(text.replace("TIMEOUT", "")))
    run = wait_terminal(rt, "loop-run")
    assert run["status"]["phase"] == "Failed"
    assert "gave up after 3 attempts" in run["status"]["error"]["message"]
    assert run["status"]["modelAttempts"] == 3
