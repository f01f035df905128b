"""Failover and tree budgets end to end in the embedded shape.

Failover goes through the real anthropic client against two fake Messages APIs; budgets run
the scripted provider, whose usage is exact, with children racing for the parent's budget.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import RESEARCH_TEAM, docs_of, run_docs, wait_terminal
from tests.fakes.messages_api import FakeMessagesAPI, Fault, Reply

KEY = "sk-ant-failover-e2e"


def test_overloaded_model_fails_over_and_the_run_says_so(
    embedded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sonnet 529s past its attempts, haiku answers; the run records who answered and why."""
    monkeypatch.setenv("FAILOVER_KEY", KEY)
    with (
        FakeMessagesAPI(default=Fault.status_code(529, "Overloaded")) as down,
        FakeMessagesAPI(
            default=Reply.text(
                "Answered by the fallback.", usage={"input_tokens": 1000, "output_tokens": 100}
            )
        ) as up,
    ):
        models = [
            ("sonnet", "claude-sonnet-5-5", down.url, 3),
            ("haiku", "claude-haiku-5", up.url, 1),
        ]
        docs = [
            {
                "apiVersion": "baton.dev/v1alpha1",
                "kind": "Model",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {
                    "provider": "anthropic",
                    "model": model_id,
                    "apiKeyEnv": "FAILOVER_KEY",
                    "baseURL": url,
                    "pricing": {"inputPerMTok": price, "outputPerMTok": price * 5},
                },
            }
            for name, model_id, url, price in models
        ]
        docs += docs_of(
            """
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: steady}
spec:
  modelRef: {name: sonnet}
  fallbackModelRefs: [{name: haiku}]
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: steady-run}
spec: {agentRef: {name: steady}, task: Say something.}
"""
        )
        # No sweep: its redrive of a slow first call would be a second delivery (the count of
        # requests below is what this test checks).
        rt = embedded(sweep_interval=600)
        run_docs(rt, docs)
        run = wait_terminal(rt, "steady-run", timeout=60)  # a cold SDK import is slow
        assert (len(down.requests), len(up.requests)) == (2, 1)
    status = run["status"]
    assert status["phase"] == "Succeeded", status
    assert status["result"] == "Answered by the fallback."
    failover = next(c for c in status["conditions"] if c["type"] == "ModelFailover")
    assert failover["reason"] == "ModelOverloaded"
    assert failover["message"].startswith("Model haiku answered: sonnet failed (ModelOverloaded")
    # Priced by haiku, which answered: 1,000 x 1 + 100 x 5 per million.
    assert status["costEstimate"] == "0.0015"
    reply = dict(rt.store.read_journal(run))["reply/1"]
    assert (reply["answeredBy"], reply["model"]) == ("haiku", "claude-haiku-5")
    assert [s["reason"] for s in reply["switches"]] == ["ModelOverloaded"]
    assert KEY not in json.dumps(run)


SEQUENTIAL = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: counter-model}
spec:
  provider: scripted
  maxTokens: 50
  script:
    - text: "Counting."
      toolCalls: [{name: calculate, input: {expression: "1+1"}}]
      usage: {input: 100, output: 20}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: counter}
spec:
  modelRef: {name: counter-model}
  tools: [{builtin: calculate}]
  limits: {maxTurns: 50}
  budget: {tokens: 1000}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: counting}
spec: {agentRef: {name: counter}, task: Count forever.}
"""


def test_sequential_spend_ends_the_run_before_the_call_that_would_cross(embedded: Any) -> None:
    """120 tokens a turn under 1,000: Failed BudgetExceeded with the numbers, never over."""
    rt = embedded()
    run_docs(rt, docs_of(SEQUENTIAL))
    run = wait_terminal(rt, "counting")
    status = run["status"]
    assert status["phase"] == "Failed"
    assert status["error"]["reason"] == "BudgetExceeded"
    exceeded = status["budgetExceeded"]
    assert (exceeded["run"], exceeded["caller"], exceeded["dimension"]) == (
        "counting",
        "counting",
        "tokens",
    )
    used, needed = int(exceeded["used"]), int(exceeded["needed"])
    assert exceeded["limit"] == "1000" and exceeded["reserved"] == "0"
    assert used <= 1000 < used + needed  # stopped at the call whose worst case would cross
    assert status["tokenUsage"]["total"] == used == status["treeUsage"]["tokens"]
    replies = [k for k, _ in rt.store.read_journal(run) if k.startswith("reply/")]
    assert len(replies) * 120 == used
    assert f"{used} used" in status["error"]["message"]


TREE = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: lead-model}
spec:
  provider: scripted
  maxTokens: 100
  script:
    - text: "Delegating."
      toolCalls:
        - {id: c0, name: researcher, input: {task: tides}}
        - {id: c1, name: researcher, input: {task: winds}}
      usage: {input: 100, output: 20}
    - text: "Summary: {{last_tool_result}}"
      usage: {input: 150, output: 30}
---
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: helper-model}
spec:
  provider: scripted
  maxTokens: 500
  script:
    - text: "findings on {{task}}"
      usage: {input: 350, output: 100}
      delayMs: 400
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: lead-run}
spec:
  agentRef: {name: lead}
  task: Research two topics.
  budget: {tokens: 1000}
"""


def test_parallel_children_cannot_overshoot_the_parents_budget(embedded: Any) -> None:
    """Each child's call (worst case ~520) fits what the parent leaves (880), both do not.

    The children's calls overlap (each reply takes 0.4 s), so the second is refused on the
    first one's reservation; should the machine be so slow that they do not, it is refused
    on the first one's spend (450). Slower still, the second child is created after the
    first one's call is reserved, starts with what that leaves, and is refused on its own
    budget. Whatever the timing, the tree never goes over.
    """
    rt = embedded()
    run_docs(rt, docs_of(RESEARCH_TEAM) + docs_of(TREE))
    run = wait_terminal(rt, "lead-run")
    children = rt.store.list(
        "AgentRun", "default", {"baton.dev/parent-uid": run["metadata"]["uid"]}
    )
    for child in children:
        wait_terminal(rt, child["metadata"]["name"])
    children = rt.store.list(
        "AgentRun", "default", {"baton.dev/parent-uid": run["metadata"]["uid"]}
    )
    assert len(children) == 2
    for child in children:
        assert child["spec"]["parent"]["rootRunName"] == "lead-run"
    budgets = sorted(int(c["spec"]["budget"]["tokens"]) for c in children)
    assert budgets[1] == 880  # 1,000 minus the parent's 120, nothing of a sibling in flight
    assert budgets[0] == 880 or budgets[0] <= 880 - 450  # or less its sibling's spend/reservation
    phases = sorted(c["status"]["phase"] for c in children)
    assert phases == ["Failed", "Succeeded"]
    stopped = next(c for c in children if c["status"]["phase"] == "Failed")
    name = stopped["metadata"]["name"]
    assert stopped["status"]["error"]["reason"] == "BudgetExceeded"
    exceeded = stopped["status"]["budgetExceeded"]
    assert exceeded["caller"] == name
    used, reserved, needed = (int(exceeded[k]) for k in ("used", "reserved", "needed"))
    assert used + reserved + needed > int(exceeded["limit"])
    if exceeded["run"] == "lead-run":  # refused on the tree's budget
        assert int(exceeded["limit"]) == 1000
        assert (used, reserved) in ((120, needed), (570, 0))  # in flight, or already spent
    else:  # refused on its own, smaller budget, inherited while its sibling's call was out
        assert exceeded["run"] == name
        assert int(exceeded["limit"]) == int(stopped["spec"]["budget"]["tokens"]) < 880
    status = run["status"]
    assert status["phase"] == "Succeeded", status
    # parent 120 + 180, one child 450: the tree's total, within the budget
    assert status["treeUsage"]["tokens"] == 750
    assert status["treeUsage"]["runs"] == 2 and status["treeUsage"]["reservedTokens"] == 0
