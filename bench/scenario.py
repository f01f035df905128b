"""The benchmarked agent run and the bare loop it is compared with.

The run is config/samples/tools.yaml on the scripted provider: 2 model turns
around 1 built-in tool call (``current_time``), or ``turns`` model turns with
a tool call between each. The bare loop makes exactly the same scripted model
and tool calls with no store, no bus and no events: what an agent loop in a
plain Python script would spend. Light imports: memory and cold-start
baselines load only this.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.cli.manifests import load_files
from functions.models.scripted import ScriptedModel
from functions.ports import ModelRequest, Resource, ToolContext
from functions.tools import AgentToolbox

__all__ = ["SAMPLE", "Scenario", "bare_runs", "scenario"]

SAMPLE = Path(__file__).resolve().parent.parent / "config" / "samples" / "tools.yaml"


@dataclass
class Scenario:
    """A Model, an Agent and an AgentRun template for one shape of run."""

    model: Resource
    agent: Resource
    run: Resource
    turns: int

    def resources(self) -> list[Resource]:
        """The Model and Agent to apply before any run."""
        return [copy.deepcopy(self.model), copy.deepcopy(self.agent)]

    def run_named(self, name: str) -> Resource:
        """A fresh AgentRun of this scenario."""
        run = copy.deepcopy(self.run)
        run["metadata"]["name"] = name
        return run


def scenario(turns: int = 2, delay_ms: int = 0) -> Scenario:
    """tools.yaml made offline: ``turns`` model turns, a tool call between each."""
    docs = {d["kind"]: d for d in load_files([str(SAMPLE)])}
    model, agent, run = docs["Model"], docs["Agent"], docs["AgentRun"]
    tool_turn, answer = model["spec"]["script"][0], model["spec"]["script"][-1]
    script = [copy.deepcopy(tool_turn) for _ in range(turns - 1)] + [copy.deepcopy(answer)]
    for entry in script:
        if delay_ms:
            entry["delayMs"] = delay_ms
    model["spec"].update(provider="scripted", script=script)
    model["spec"].pop("apiKeySecretRef", None)
    agent["spec"]["limits"] = {"maxTurns": turns + 1, "timeout": "1h"}
    return Scenario(model=model, agent=agent, run=run, turns=turns)


def bare_runs(sc: Scenario, count: int) -> list[float]:
    """Run the agent loop ``count`` times with no store or bus; seconds per step."""
    model = ScriptedModel(sc.model)
    toolbox = AgentToolbox(store=None)  # type: ignore[arg-type]  # builtins here never touch it
    agent, run = sc.agent, sc.run
    tools = toolbox.specs(agent, "default")
    system = agent["spec"]["systemPrompt"]
    steps: list[float] = []
    for i in range(count):
        messages: list[dict[str, Any]] = [{"role": "user", "content": run["spec"]["task"]}]
        ctx = ToolContext(run=run, agent=agent, idempotency_key=f"bare/{i}", store=None)  # type: ignore[arg-type]
        while True:
            started = time.perf_counter()
            reply = model.complete(ModelRequest(system=system, messages=messages, tools=tools))
            messages.append({"role": "assistant", "content": reply.content})
            steps.append(time.perf_counter() - started)
            calls = reply.tool_calls
            if not calls:
                break
            started = time.perf_counter()
            results = []
            for call in calls:
                out = toolbox.call(call, ctx)
                results.append(
                    {
                        "type": "tool_result",
                        "tool_use_id": call.id,
                        "content": out.content,
                        "is_error": out.is_error,
                    }
                )
            messages.append({"role": "user", "content": results})
            steps.append(time.perf_counter() - started)
    return steps
