"""What exists (agents, models, MCP servers) and which runs used each.

A run used its Agent, the Agent's Model (or the run's model override) and the MCP
servers the Agent lists. Only what a person needs to recognise a resource is shown:
never an MCP server's env or headers (they may hold credentials).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

from functions.console.views import count_phases
from functions.ports import Resource, Store

__all__ = ["catalog"]

_RECENT = 8


def _key(obj: Resource) -> tuple[str, str]:
    meta = obj["metadata"]
    return meta.get("namespace", "default"), meta["name"]


def _model_of(run: Resource, agents: dict[tuple[str, str], Resource]) -> str:
    override = ((run.get("spec") or {}).get("overrides") or {}).get("modelRef") or {}
    if override.get("name"):
        return str(override["name"])
    agent = agents.get((_key(run)[0], (run["spec"].get("agentRef") or {}).get("name", "")))
    return str(((agent or {}).get("spec") or {}).get("modelRef", {}).get("name", ""))


def _where(spec: dict[str, Any]) -> str:
    if spec.get("url"):
        parts = urlsplit(str(spec["url"]))
        return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"  # no credentials, no query
    return str(spec.get("command", ""))


def _usage(runs: list[Resource]) -> dict[str, Any]:
    newest = sorted(runs, key=lambda r: r["metadata"].get("creationTimestamp", ""), reverse=True)
    return {
        "runs": len(runs),
        "phases": {k: v for k, v in count_phases(_phase_rows(runs)).items() if v},
        "recent": [r["metadata"]["name"] for r in newest[:_RECENT]],
    }


def _phase_rows(runs: list[Resource]) -> list[dict[str, str]]:
    return [{"phase": (r.get("status") or {}).get("phase") or "Pending"} for r in runs]


def catalog(store: Store, namespace: str | None) -> dict[str, list[dict[str, Any]]]:
    """Agents, Models and MCPServers in ``namespace`` (all when None), each with its runs."""
    agents = {_key(a): a for a in store.list("Agent", namespace)}
    models = {_key(m): m for m in store.list("Model", namespace)}
    servers = {_key(s): s for s in store.list("MCPServer", namespace)}
    by_agent: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    by_model: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    by_server: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for run in store.list("AgentRun", namespace):
        ns = _key(run)[0]
        agent_name = (run["spec"].get("agentRef") or {}).get("name", "")
        by_agent[(ns, agent_name)].append(run)
        by_model[(ns, _model_of(run, agents))].append(run)
        agent = agents.get((ns, agent_name))
        for entry in ((agent or {}).get("spec") or {}).get("tools") or []:
            if entry.get("mcpServer"):
                by_server[(ns, str(entry["mcpServer"]))].append(run)
    out_agents = []
    for key, agent in sorted(agents.items()):
        spec = agent.get("spec") or {}
        tools = [
            str(t.get("builtin") or t.get("mcpServer") or t.get("name") or t.get("agent"))
            for t in spec.get("tools") or []
        ]
        out_agents.append(
            {
                "namespace": key[0],
                "name": key[1],
                "model": (spec.get("modelRef") or {}).get("name", ""),
                "tools": tools,
                "subAgents": [str(t["agent"]) for t in spec.get("tools") or [] if t.get("agent")],
                **_usage(by_agent.get(key, [])),
            }
        )
    out_models = []
    for key, model in sorted(models.items()):
        spec = model.get("spec") or {}
        out_models.append(
            {
                "namespace": key[0],
                "name": key[1],
                "provider": spec.get("provider", ""),
                "model": spec.get("model", ""),
                "pricing": dict(spec.get("pricing") or {}),
                "agents": sorted(
                    n
                    for (ns, n), a in agents.items()
                    if ns == key[0] and (a["spec"].get("modelRef") or {}).get("name") == key[1]
                ),
                **_usage(by_model.get(key, [])),
            }
        )
    out_servers = []
    for key, server in sorted(servers.items()):
        spec = server.get("spec") or {}
        out_servers.append(
            {
                "namespace": key[0],
                "name": key[1],
                "transport": spec.get("transport", ""),
                "where": _where(spec),
                "agents": sorted(
                    n
                    for (ns, n), a in agents.items()
                    if ns == key[0]
                    and any(t.get("mcpServer") == key[1] for t in a["spec"].get("tools") or [])
                ),
                **_usage(by_server.get(key, [])),
            }
        )
    return {"agents": out_agents, "models": out_models, "mcpServers": out_servers}
