"""The tools an agent may call: built-ins, MCP servers' tools, and sub-agents."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from typing import Any

from events.errors import PermanentError, TransientError
from functions.agentrun import is_terminal
from functions.ports import Conflict, Resource, Store, ToolCall, ToolContext, ToolResult, ToolSpec
from functions.tools.builtin import BUILTINS, run_builtin
from functions.transcript import load

__all__ = ["AgentToolbox"]

PARENT_LABEL = "baton.dev/parent"
_AGENT_INPUT = {
    "type": "object",
    "properties": {"task": {"type": "string", "description": "What the sub-agent should do"}},
    "required": ["task"],
}


class AgentToolbox:
    """The ``Toolbox`` for an Agent's ``spec.tools`` list."""

    def __init__(self, store: Store, mcp: Any | None = None, *, secrets: Any | None = None) -> None:
        self._store = store
        self._secrets = secrets  # (namespace, name, key) -> value, for MCPServer Secret refs
        self._mcp = mcp  # functions.tools.mcp.MCPTools, built on first use (mcp imports asyncio)
        self._mcp_lock = threading.Lock()

    def specs(self, agent: Resource, namespace: str) -> list[ToolSpec]:
        """Tool definitions for the model, in the order the Agent lists them."""
        specs: list[ToolSpec] = []
        for entry in agent["spec"].get("tools") or []:
            if entry.get("builtin"):
                builtin = BUILTINS.get(entry["builtin"])
                if builtin is None:
                    raise PermanentError(
                        f"Agent {agent['metadata']['name']}: "
                        f"unknown builtin tool {entry['builtin']!r} "
                        f"(known: {', '.join(sorted(BUILTINS))})",
                        reason="InvalidAgent",
                    )
                specs.append(builtin.spec)
            elif entry.get("agent"):
                specs.append(
                    ToolSpec(
                        entry.get("name") or entry["agent"],
                        entry.get("description") or f"Delegate a task to agent {entry['agent']}",
                        _AGENT_INPUT,
                    )
                )
            elif entry.get("mcpServer"):
                specs.extend(self._mcp_tools().specs(namespace, entry["mcpServer"]))
        return specs

    def call(self, call: ToolCall, ctx: ToolContext) -> ToolResult:
        """Run one call with whichever provider offers the tool."""
        namespace = ctx.run["metadata"].get("namespace", "default")
        for entry in ctx.agent["spec"].get("tools") or []:
            if entry.get("builtin") == call.name:
                return run_builtin(BUILTINS[call.name], call, ctx)
            if entry.get("agent") and (entry.get("name") or entry["agent"]) == call.name:
                return self._spawn(entry["agent"], call, ctx)
            if entry.get("mcpServer"):
                mcp = self._mcp_tools()
                if call.name in {s.name for s in mcp.specs(namespace, entry["mcpServer"])}:
                    result: ToolResult = mcp.call(
                        namespace, entry["mcpServer"], call, ctx.idempotency_key
                    )
                    return result
        return ToolResult(f"no tool named {call.name!r} is available to this agent", is_error=True)

    def close(self) -> None:
        """Stop MCP sessions (stdio server processes) this toolbox started."""
        with self._mcp_lock:
            mcp = self._mcp
        if mcp is not None:
            mcp.close()

    @staticmethod
    def _is_agent(ctx: ToolContext, name: str) -> bool:
        return any(
            e.get("agent") and (e.get("name") or e["agent"]) == name
            for e in ctx.agent["spec"].get("tools") or []
        )

    def _mcp_tools(self) -> Any:
        # Under the lock: runs starting at once must share one MCPTools (one server per
        # spec), not each build their own and start their own server processes.
        with self._mcp_lock:
            if self._mcp is None:
                from functions.tools.mcp import MCPTools

                self._mcp = MCPTools(self._store, secrets=self._secrets)
            return self._mcp

    def _spawn(self, agent_name: str, call: ToolCall, ctx: ToolContext) -> ToolResult:
        """Start a child AgentRun; its finalize closes this call with the child's answer.

        The parent Agent's ``subagents`` limits hold here: past maxChildrenPerAgent the
        model is told no; at maxConcurrent running children the call waits (retried).
        """
        parent = ctx.run
        meta = parent["metadata"]
        namespace = meta.get("namespace", "default")
        digest = hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:10]
        name = f"{meta['name'][:40]}-sub-{digest}"
        limits = ctx.agent["spec"].get("subagents") or {}
        children = self._store.list("AgentRun", namespace, {PARENT_LABEL: meta["name"]})
        children = [
            c for c in children if (c["spec"].get("parent") or {}).get("uid") == meta["uid"]
        ]
        if any(c["metadata"]["name"] == name for c in children):
            return ToolResult("", pending=True)  # created by an earlier delivery of this call
        # Parallel calls of one step decide by their order in the model's reply, not by a
        # count-then-create race: call i starts only as the i-th child of this step.
        step = int((parent.get("status") or {}).get("step", 0))
        delegations = [
            c.id for c in load(self._store, parent).tool_calls(step) if self._is_agent(ctx, c.name)
        ]
        index = delegations.index(call.id) if call.id in delegations else 0
        by_call = {(c["spec"].get("parent") or {}).get("toolCallId"): c for c in children}
        earlier = [c for c in children if c["spec"]["parent"].get("toolCallId") not in delegations]
        if len(earlier) + index >= int(limits.get("maxChildrenPerAgent", 8)):
            return ToolResult(
                f"cannot start sub-agent {agent_name}: this run may start "
                f"{limits.get('maxChildrenPerAgent', 8)} (subagents.maxChildrenPerAgent)",
                is_error=True,
            )
        unfinished = [
            cid
            for cid in delegations[:index]
            if cid not in by_call or not is_terminal(by_call[cid])
        ]
        if len(unfinished) >= int(limits.get("maxConcurrent", 4)):
            raise TransientError(
                f"{len(unfinished)} earlier sub-agents of {meta['name']} still running "
                "(subagents.maxConcurrent)",
                delay=1.0,
                reason="SubagentsBusy",
            )
        child = {
            "apiVersion": parent["apiVersion"],
            "kind": "AgentRun",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {PARENT_LABEL: meta["name"]},
                # Kubernetes deletes the children with their parent.
                "ownerReferences": [
                    {
                        "apiVersion": parent["apiVersion"],
                        "kind": "AgentRun",
                        "name": meta["name"],
                        "uid": meta["uid"],
                    }
                ],
            },
            "spec": {
                "agentRef": {"name": agent_name},
                "task": str(call.input.get("task", "")),
                "parent": {
                    "runName": meta["name"],
                    "uid": meta["uid"],
                    "spawnDepth": int((parent["spec"].get("parent") or {}).get("spawnDepth", 0))
                    + 1,
                    "toolCallId": call.id,
                },
                "cleanup": parent["spec"].get("cleanup", "keep"),
            },
        }
        with contextlib.suppress(Conflict):  # created by a concurrent delivery of this call
            self._store.create(child)
        return ToolResult("", pending=True)
