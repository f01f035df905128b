"""A person in the loop: approving or rejecting a tool call, cancelling a run."""

from __future__ import annotations

import time
from typing import Any

from functions.cli.main import main
from functions.runtime.embedded import Embedded
from tests.e2e.conftest import docs_of, run_docs, wait_terminal

ASK = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: ask-model}
spec:
  provider: scripted
  script:
    - text: "I need to compute."
      toolCalls: [{id: call-1, name: calculate, input: {expression: "21 * 2"}}]
      delayMs: DELAY
    - text: "Result: {{last_tool_result}}"
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: careful}
spec:
  modelRef: {name: ask-model}
  tools: [{builtin: calculate}]
  toolPolicy: {ask: ["calc*"]}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: ask-run}
spec:
  agentRef: {name: careful}
  task: What is 21 * 2?
"""


def _wait_phase(rt: Embedded, phase: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = rt.store.get("AgentRun", "default", "ask-run")
        if (run.get("status") or {}).get("phase") == phase:
            return run
        time.sleep(0.02)
    raise AssertionError(f"ask-run never reached {phase}: {run.get('status')}")


def test_a_tool_call_waits_for_approval_then_runs(embedded: Any, capsys: Any) -> None:
    """toolPolicy ask parks the run; `baton approve` lets the call run and the run finish."""
    rt = embedded()
    run_docs(rt, docs_of(ASK.replace("DELAY", "0")))
    parked = _wait_phase(rt, "AwaitingApproval")
    assert parked["status"]["awaitingApproval"] == ["call-1"]
    assert rt.store.read_journal(parked)[-1][0] == "reply/1"  # nothing ran yet
    assert main(["--db", rt.db_path, "approve", "ask-run", "--by", "alice"]) == 0
    run = wait_terminal(rt, "ask-run")
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"] == "Result: 42"
    approved = next(c for c in run["status"]["conditions"] if c["type"] == "ToolApproved")
    assert approved["status"] == "True"
    assert "agentrun/ask-run: approved call-1" in capsys.readouterr().out


def test_a_rejected_tool_call_is_reported_to_the_model(embedded: Any) -> None:
    """`baton approve --reject`: the tool never runs; the model gets an error result."""
    rt = embedded()
    run_docs(rt, docs_of(ASK.replace("DELAY", "0")))
    _wait_phase(rt, "AwaitingApproval")
    assert (
        main(["--db", rt.db_path, "approve", "ask-run", "call-1", "--reject", "--by", "bob"]) == 0
    )
    run = wait_terminal(rt, "ask-run")
    journal = dict(rt.store.read_journal(run))
    assert journal["tool/1/call-1"]["is_error"] is True
    assert journal["tool/1/call-1"]["content"] == "tool calculate was rejected by bob"


def test_approving_an_unknown_call_is_refused(embedded: Any, capsys: Any) -> None:
    """A call id the run does not wait on gets a clear error and changes nothing."""
    rt = embedded()
    run_docs(rt, docs_of(ASK.replace("DELAY", "0")))
    _wait_phase(rt, "AwaitingApproval")
    assert main(["--db", rt.db_path, "approve", "ask-run", "nope"]) == 1
    assert "waits on ['call-1'], not ['nope']" in capsys.readouterr().err
    assert rt.store.get("AgentRun", "default", "ask-run")["status"]["phase"] == "AwaitingApproval"


def test_cancel_ends_a_running_run_as_cancelled(embedded: Any) -> None:
    """`baton cancel` while the model thinks: the run ends Cancelled with who asked."""
    rt = embedded()
    run_docs(rt, docs_of(ASK.replace("DELAY", "3000")))
    _wait_phase(rt, "Running")
    assert main(["--db", rt.db_path, "cancel", "ask-run", "--by", "carol"]) == 0
    run = wait_terminal(rt, "ask-run", timeout=10)
    assert run["status"]["phase"] == "Cancelled"
    assert run["status"]["error"] == {"reason": "Cancelled", "message": "cancelled by carol"}
