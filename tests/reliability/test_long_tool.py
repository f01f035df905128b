"""A tool call that takes longer than its claim's lease, and than sweep's quiet time, runs once.

Through the transitions with the test's clock: while the call is in flight, time moves
40 s (almost seven 6 s leases; sweep re-publishes a run's needs after 2 s of quiet) in 1 s
steps, 50 ms of real time apart, with a sweep tick at each step; the call's claim must
hold (its lease renewed). In the embedded runtime with the real clock: sweep runs every
0.2 s while the run's one tool call (``slow`` on a real MCP stdio server) takes 4 s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from events import types
from events.envelope import make_event
from functions.cli.manifests import apply
from functions.runtime.embedded import Embedded
from tests.fakes.mcp_servers import calls, stdio_command
from tests.nats.shape import wait_terminal
from tests.reliability.world import World

TOOL_SECONDS = 4.0


def _manifests(state: Path) -> list[dict[str, Any]]:
    command, args = stdio_command(state)
    meta = {"namespace": "default"}
    script = [
        {"text": "Working.", "toolCalls": [{"name": "slow", "input": {"seconds": TOOL_SECONDS}}]},
        {"text": "Done: {{last_tool_result}}."},
    ]
    return [
        {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "MCPServer",
            "metadata": {"name": "tools", **meta},
            "spec": {"transport": "stdio", "command": command, "args": args, "timeoutSeconds": 30},
        },
        {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "Model",
            "metadata": {"name": "slow-model", **meta},
            "spec": {"provider": "scripted", "script": script},
        },
        {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "Agent",
            "metadata": {"name": "patient", **meta},
            "spec": {"modelRef": {"name": "slow-model"}, "tools": [{"mcpServer": "tools"}]},
        },
        {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "AgentRun",
            "metadata": {"name": "long-call", **meta},
            "spec": {"agentRef": {"name": "patient"}, "task": "Take your time."},
        },
    ]


def test_a_tool_call_longer_than_the_stall_threshold_runs_once(tmp_path: Path) -> None:
    """Sweep re-checks the run while its 4 s tool call is in flight; the tool runs once."""
    state = tmp_path / "mcp"
    with Embedded(str(tmp_path / "state.db"), sweep_interval=0.2) as rt:
        apply(rt.store, _manifests(state))
        run = wait_terminal(rt.store, "long-call", timeout=60)
    assert run["status"]["phase"] == "Succeeded", run["status"].get("error")
    slow = [c for c in calls(state) if c["tool"] == "slow"]
    assert len(slow) == 1, slow
    assert slow[0]["idempotencyKey"].startswith(run["metadata"]["uid"] + "/1/call_tool/")
    assert run["status"]["result"] == f"Done: slept {TOOL_SECONDS}s."


def test_a_tool_call_past_the_stall_threshold_of_the_test_clock_runs_once() -> None:
    """40 s of the test's clock (many leases, far past sweep's quiet time) pass during one
    tool call, a sweep tick each second: the renewed claim holds and the tool runs once."""
    w = World()
    w.runs(1)
    ticks = []

    def time_passes() -> None:
        for step in range(40):
            time.sleep(0.05)
            w.clock.advance(1)
            tick = make_event(types.TICK, "/baton/timer", {}, id_=f"tick/{step}")
            ticks.append(tick)
            w.drive([tick])

    w.toolbox.during = time_passes
    w.drive()
    assert len(ticks) == 40
    assert list(w.toolbox.executions().values()) == [1], w.toolbox.calls
    assert (w.status("r0")["phase"], w.status("r0")["result"]) == ("Succeeded", "The answer is 0.")
