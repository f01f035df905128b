"""The tools an agent may call: built-ins, MCP servers' tools, and sub-agents."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from events.errors import PermanentError
from functions.budget import budget_for_child, root_of
from functions.ports import Conflict, Resource, Store, ToolCall, ToolContext, ToolResult, ToolSpec
from functions.tools.builtin import BUILTINS, run_builtin

__all__ = ["AgentToolbox"]

PARENT_LABEL = "baton.dev/parent-uid"
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
        """Start a child AgentRun for the call; its end closes the call with its answer.

        The parent Agent's ``subagents`` limits hold here, decided by the calls' order in
        the model's reply (no count-then-create race): past maxChildrenPerAgent the model
        is told no; while maxConcurrent earlier calls of the step are still open, the call
        waits for a slot (``pending`` without a child) and is tried again as calls close.
        """
        parent = ctx.run
        meta = parent["metadata"]
        st = parent.get("status") or {}
        namespace = meta.get("namespace", "default")
        digest = hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:10]
        name = f"{meta['name'][:40].rstrip('-.')}-sub-{digest}"
        limits = ctx.agent["spec"].get("subagents") or {}
        delegations = [c.id for c in ctx.step_calls if self._is_agent(ctx, c.name)]
        index = delegations.index(call.id) if call.id in delegations else 0
        existing = self._store.list("AgentRun", namespace, {PARENT_LABEL: meta["uid"]})
        mine = next((c for c in existing if c["metadata"]["name"] == name), None)
        if mine is not None:  # created by an earlier run of this call
            return _delegated(mine)
        earlier = [
            c
            for c in existing
            if (c["spec"].get("parent") or {}).get("toolCallId") not in delegations
        ]
        max_children = int(limits.get("maxChildrenPerAgent", 8))
        if len(earlier) + index >= max_children:
            return ToolResult(
                f"cannot start sub-agent {agent_name}: this run may start {max_children} "
                "(subagents.maxChildrenPerAgent)",
                is_error=True,
            )
        pending = set(st.get("pendingToolCalls") or [])
        open_before = [c for c in delegations[:index] if c in pending]
        if len(open_before) >= int(limits.get("maxConcurrent", 4)):
            return ToolResult("", pending=True)  # waits for a slot
        child = {
            "apiVersion": parent["apiVersion"],
            "kind": "AgentRun",
            "metadata": {
                "name": name,
                "namespace": namespace,
                # The uid, not the name: a name may be longer than a label value can be.
                "labels": {PARENT_LABEL: meta["uid"]},
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
                    "rootRunName": root_of(parent),
                },
                "cleanup": parent["spec"].get("cleanup", "keep"),
            },
        }
        # At most what the parent's budget (and its ancestors') leaves right now.
        inherited = budget_for_child(self._store, parent, time.time())
        if inherited.limited:
            child["spec"]["budget"] = inherited.spec()
        try:
            return _delegated(self._store.create(child))
        except Conflict:  # created by a concurrent run of this call
            return _delegated(self._store.get("AgentRun", namespace, name))


def _delegated(child: Resource) -> ToolResult:
    return ToolResult(
        "",
        pending=True,
        delegated_to={"name": child["metadata"]["name"], "uid": child["metadata"]["uid"]},
    )
