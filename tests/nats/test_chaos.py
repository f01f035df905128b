"""Chaos on the NATS shape: processes SIGKILLed at random points, every run still finishes.

Runs with two model turns around two tool calls go through source and worker processes
while one of them is SIGKILLed every ~0.7 s and a new one started in its place. Every run must
reach Succeeded with each model reply recorded once, each tool result once and tokens
counted once (DESIGN.md, "Chaos").
"""

from __future__ import annotations

import time
from typing import Any

import yaml

from functions.cli.manifests import apply
from functions.run.status import is_terminal
from tests.nats.shape import GROUPS, Shape

RUNS = 20
# Who dies, one every ~0.7 s. With 20 runs of 1 s model calls on 4 handler threads the
# call_llm worker is busy for the whole schedule, so each of its deaths drops held calls.
VICTIMS = (GROUPS[1], "source", GROUPS[0], GROUPS[1], GROUPS[2], GROUPS[1], GROUPS[0], GROUPS[1])

CALC = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: calc-model, namespace: default}
spec:
  provider: scripted
  script:
    - text: "Computing."
      delayMs: 1000
      toolCalls:
        - {name: calculate, input: {expression: "6 * 7"}}
        - {name: calculate, input: {expression: "2 ** 10"}}
      usage: {input: 100, output: 20}
    - text: "The answers are {{last_tool_result}}."
      delayMs: 300
      usage: {input: 150, output: 12}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: calc, namespace: default}
spec:
  modelRef: {name: calc-model}
  tools: [{builtin: calculate}]
"""


def _run(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"agentRef": {"name": "calc"}, "task": "What are 6*7 and 2**10?"},
    }


def test_runs_survive_processes_killed_at_random(nats_shape: Shape) -> None:
    """Every run succeeds once, whatever process dies while it is in flight."""
    shape = nats_shape.start()
    apply(shape.store, [d for d in yaml.safe_load_all(CALC) if d])
    names = [f"chaos-{i}" for i in range(RUNS)]
    apply(shape.store, [_run(name) for name in names])

    for number, victim in enumerate(VICTIMS, 1):
        time.sleep(0.7)
        shape.kill(victim)
        args = ("source",) if victim == "source" else ("worker", victim)
        shape.spawn(victim, *args, shape.url, shape.db, wait=number == len(VICTIMS))

    deadline = time.monotonic() + 120
    runs: dict[str, dict[str, Any]] = {}
    while len(runs) < RUNS and time.monotonic() < deadline:
        for name in names:
            run = shape.store.get("AgentRun", "default", name)
            if is_terminal(run):
                runs[name] = run
        time.sleep(0.1)
    unfinished = sorted(set(names) - set(runs))
    assert not unfinished, f"not finished: {unfinished}"

    for name, run in runs.items():
        status = run["status"]
        assert status["phase"] == "Succeeded", (name, status.get("error"))
        assert status["tokenUsage"]["total"] == 282, name  # 120 + 162: each reply once
        assert status["toolCalls"] == 2, name
        keys = [key for key, _ in shape.store.read_journal(run)]
        assert sorted(k for k in keys if k.startswith("reply/")) == ["reply/1", "reply/2"]
        assert len([k for k in keys if k.startswith("tool/")]) == 2, (name, keys)
