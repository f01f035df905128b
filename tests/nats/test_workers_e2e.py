"""The NATS shape end to end: source and workers as separate processes, one SQLite store."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import unquote

import yaml

from events.buses.jetstream_config import subject_for
from events.types import LLM_REQUESTED
from functions.cli.manifests import apply
from functions.run.status import is_terminal
from tests.nats.conftest import with_jetstream
from tests.nats.shape import GROUPS, Shape, sample, wait_terminal


def test_hello_sample_succeeds_across_worker_processes(nats_shape: Shape) -> None:
    """hello.yaml runs through source -> validate -> ... -> finalize in separate processes."""
    store = nats_shape.start().store
    apply(store, sample("hello"))
    run = wait_terminal(store, "hello")
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"].startswith("Hello! I am a baton agent.")
    assert run["status"]["tokenUsage"]["total"] == 59


def test_tools_sample_succeeds_across_worker_processes(nats_shape: Shape) -> None:
    """tools.yaml calls a tool in one process and answers from another."""
    store = nats_shape.start().store
    apply(store, sample("tools"))
    run = wait_terminal(store, "tools-demo")
    assert run["status"]["phase"] == "Succeeded"
    journal = dict(store.read_journal(run))
    tool_output = journal["tool/1/toolu_s01_0"]["content"]
    assert run["status"]["result"] == f"The current UTC time is {tool_output}."
    assert run["status"]["toolCalls"] == 1


SLOW_MODEL = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: slow-model}
spec:
  provider: scripted
  script:
    - text: "Answered after a long think."
      delayMs: 4000
      usage: {input: 30, output: 7}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: slow}
spec:
  modelRef: {name: slow-model}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: killed-mid-call}
spec:
  agentRef: {name: slow}
  task: Think hard.
"""


def test_worker_killed_during_a_model_call_loses_nothing_and_counts_once(
    nats_shape: Shape,
) -> None:
    """SIGKILL call_llm mid-call, restart it: the run succeeds, one reply, tokens once."""
    shape = nats_shape.start()
    docs = [d for d in yaml.safe_load_all(SLOW_MODEL) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = "default"
    apply(shape.store, docs)

    # call_llm claims the call in the run's record, then calls: the call is under way once the
    # claim is there (llm.requested in the log only says a worker will take it, some time).
    deadline = time.monotonic() + 30
    while "llm/1" not in (
        shape.store.get("AgentRun", "default", "killed-mid-call").get("status") or {}
    ).get("claims", {}):  # fmt: skip
        assert time.monotonic() < deadline, "call_llm never claimed the model call"
        time.sleep(0.02)
    time.sleep(1.0)  # well inside the 4 s model call
    shape.kill(GROUPS[1])
    assert not is_terminal(shape.store.get("AgentRun", "default", "killed-mid-call"))

    shape.spawn("call_llm again", "worker", GROUPS[1], shape.url, shape.db)
    run = wait_terminal(shape.store, "killed-mid-call", timeout=60)
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"] == "Answered after a long think."
    assert run["status"]["tokenUsage"]["total"] == 37  # one model reply counted, not two
    replies = [key for key, _ in shape.store.read_journal(run) if key.startswith("reply/")]
    assert replies == ["reply/1"]


POISON = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: refusing-model}
spec:
  provider: scripted
  script:
    - error: {status: 400, message: "prompt is too long"}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: refused}
spec:
  modelRef: {name: refusing-model}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: poisoned}
spec:
  agentRef: {name: refused}
  task: Too much.
"""


def test_a_permanent_model_error_fails_the_run_with_the_reason(nats_shape: Shape) -> None:
    """The model refuses for good: the run Fails with its words, decided where it happened."""
    shape = nats_shape.start()
    docs = [d for d in yaml.safe_load_all(POISON) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = "default"
    apply(shape.store, docs)

    run = wait_terminal(shape.store, "poisoned")
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["error"]["reason"] == "ModelError"
    assert "prompt is too long" in run["status"]["error"]["message"]


def test_a_malformed_event_is_dead_lettered_and_fails_no_run(nats_shape: Shape) -> None:
    """llm.requested with step 1.0 goes to the dead-letter subject; the run it names goes on."""
    shape = nats_shape.start()
    apply(shape.store, sample("hello"))
    run = wait_terminal(shape.store, "hello")
    ref = {"namespace": "default", "name": "hello", "uid": run["metadata"]["uid"]}
    body = json.dumps({"run": ref, "step": 1.0}).encode()
    headers = {
        "ce-specversion": "1.0",
        "ce-type": LLM_REQUESTED,
        "ce-source": "/attacker",
        "ce-id": "forged-1",
        "content-type": "application/json",
    }

    async def forge(js: Any) -> Any:
        await js.publish(subject_for(LLM_REQUESTED), body, headers=headers)
        deadline = time.monotonic() + 30
        while True:
            try:
                stored = await js.get_last_msg("BATON", "baton.deadletter.call_llm")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        # The dead_letter worker has handled it once its consumer acked it.
        while (await js.consumer_info("BATON", "deadletter")).ack_floor.stream_seq < stored.seq:
            assert time.monotonic() < deadline, "the dead letter was never handled"
            await asyncio.sleep(0.1)
        return stored

    stored = with_jetstream(shape.url, forge)
    assert stored.headers["ce-batonerror"] == "MalformedEvent"
    assert "data.step must be an integer" in unquote(stored.headers["ce-batonerrormsg"])
    after = shape.store.get("AgentRun", "default", "hello")
    assert after["status"]["phase"] == "Succeeded"
    assert after["status"]["result"] == run["status"]["result"]
