"""Tenants stay apart on a real kube-apiserver: no name walks into another namespace.

Finding 1 of issue 10: ``get_resource`` with the name ``../../tenant-b/agents/x``, called
from a run in tenant-a, returned tenant-b's Agent, and the same path was open through every
``*.name`` reference of the CRDs. Here every such name is refused, by the store (checked and
escaped before it enters a URL) and by the API server itself (the CRDs' name patterns).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.ports import Invalid, NotFound, ToolCall, ToolContext
from functions.resources.k8s_secrets import read_secret
from functions.tools.builtin import BUILTINS, run_builtin
from tests.security.conftest import Tenants

API = "baton.dev/v1alpha1"

# Each one, unescaped in a path, reaches elsewhere or means something else to the server.
HOSTILE_NAMES = [
    "../../{b}/agents/x",
    "..%2F..%2F{b}%2Fagents%2Fx",
    "x/../../../{b}/agents/x",
    "..",
    ".",
    "x?watch=true",
    "x#fragment",
    "X",
    "x/status",
    " x",
    "x\n",
    "a" * 254,
    "",
]


def _names(t: Tenants) -> list[str]:
    return [n.format(b=t.b) for n in HOSTILE_NAMES]


def test_store_refuses_every_hostile_name_and_never_returns_another_tenants_object(
    tenants: Tenants,
) -> None:
    """get/delete with a name that is no name: Invalid naming metadata.name, nothing read."""
    # The object the traversal aimed at exists (read it the honest way first).
    assert tenants.store.get("Agent", tenants.b, "x")["spec"]["systemPrompt"] == "b"
    for name in _names(tenants):
        with pytest.raises(Invalid) as refused:
            tenants.store.get("Agent", tenants.a, name)
        assert refused.value.field == "metadata.name"
        with pytest.raises(Invalid):
            tenants.store.delete("Agent", tenants.a, name)
    assert tenants.store.get("Agent", tenants.b, "x")  # still there


def test_store_refuses_a_namespace_that_is_no_namespace(tenants: Tenants) -> None:
    """A namespace with a slash or dots is refused before it enters the path."""
    for namespace in (f"{tenants.a}/../{tenants.b}", "..", "A", ""):
        with pytest.raises(Invalid):
            tenants.store.get("Agent", namespace, "x")


def test_a_name_a_model_cannot_spend_another_namespaces_key(tenants: Tenants) -> None:
    """read_secret with a traversal name: Invalid, the key never read."""
    with pytest.raises(Invalid):
        read_secret(tenants.store.api, tenants.a, f"../../{tenants.b}/secrets/anthropic", "api-key")
    # The honest way, from the wrong namespace: no such Secret (it is tenant-b's).
    with pytest.raises(Exception) as missing:
        tenants.store.read_secret(tenants.a, "anthropic", "api-key")
    assert tenants.b_key not in str(missing.value)


# Every name reference in the CRDs: (kind, spec with the hostile name in it, field path).
def _references(name: str) -> list[tuple[str, dict[str, Any], str]]:
    return [
        ("AgentRun", {"agentRef": {"name": name}}, "spec.agentRef.name"),
        (
            "AgentRun",
            {"agentRef": {"name": "mine"}, "overrides": {"modelRef": {"name": name}}},
            "spec.overrides.modelRef.name",
        ),
        (
            "AgentRun",
            {"agentRef": {"name": "mine"}, "parent": {"runName": name}},
            "spec.parent.runName",
        ),
        ("Agent", {"modelRef": {"name": name}}, "spec.modelRef.name"),
        ("Agent", {"modelRef": {"name": "m"}, "tools": [{"mcpServer": name}]}, "mcpServer"),
        ("Agent", {"modelRef": {"name": "m"}, "tools": [{"agent": name}]}, "agent"),
        (
            "Model",
            {"provider": "anthropic", "model": "c", "apiKeySecretRef": {"name": name}},
            "spec.apiKeySecretRef.name",
        ),
        (
            "MCPServer",
            {
                "transport": "http",
                "url": "http://127.0.0.1:1/mcp",
                "headers": [
                    {
                        "name": "Authorization",
                        "valueFrom": {"secretKeyRef": {"name": name, "key": "k"}},
                    }
                ],
            },
            "secretKeyRef.name",
        ),
        (
            "MCPServer",
            {
                "transport": "stdio",
                "command": "true",
                "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": name, "key": "k"}}}],
            },
            "secretKeyRef.name",
        ),
    ]


PLURAL = {"AgentRun": "agentruns", "Agent": "agents", "Model": "models", "MCPServer": "mcpservers"}


@pytest.mark.parametrize("index", range(9))
def test_every_name_reference_is_refused_by_the_store_and_by_the_api_server(
    tenants: Tenants, index: int
) -> None:
    """A traversal in any *.name field: the store says Invalid, and so does the API server."""
    name = f"../../{tenants.b}/agents/x"
    kind, spec, field = _references(name)[index]
    obj = {
        "apiVersion": API,
        "kind": kind,
        "metadata": {"name": f"hostile-{index}", "namespace": tenants.a},
        "spec": spec,
    }
    with pytest.raises(Invalid) as by_store:
        tenants.store.create(obj)
    assert field in by_store.value.field or field in str(by_store.value)
    # Past the store's own check, straight to the API server: its CRD pattern refuses it.
    path = f"/apis/baton.dev/v1alpha1/namespaces/{tenants.a}/{PLURAL[kind]}"
    with pytest.raises(Invalid) as by_server:
        tenants.store.api.request("POST", path, body=obj)
    assert "should match" in str(by_server.value) or "pattern" in str(by_server.value)
    with pytest.raises(NotFound):
        tenants.store.get(kind, tenants.a, f"hostile-{index}")


def _tool(tenants: Tenants, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
    run = {
        "apiVersion": API,
        "kind": "AgentRun",
        "metadata": {"name": "r", "namespace": tenants.a},
        "spec": {"agentRef": {"name": "mine"}},
    }
    ctx = ToolContext(run=run, agent={}, idempotency_key="k", store=tenants.store)
    result = run_builtin(BUILTINS[name], ToolCall("c1", name, arguments), ctx)
    return result.content, result.is_error


def test_every_builtin_tool_is_confined_to_the_runs_namespace(tenants: Tenants) -> None:
    """get_resource and list_resources: every traversal and every other namespace is an
    is_error result; tenant-b's Agent, Model and key never appear in what the model sees."""
    attempts: list[tuple[str, dict[str, Any]]] = []
    for kind in ("Agent", "Model", "AgentRun", "MCPServer"):
        for name in _names(tenants):
            attempts.append(("get_resource", {"kind": kind, "name": name}))
        attempts.append(("get_resource", {"kind": kind, "name": "x", "namespace": tenants.b}))
        attempts.append(("list_resources", {"kind": kind, "namespace": tenants.b}))
    attempts.append(("get_resource", {"kind": "Secret", "name": "anthropic"}))
    attempts.append(("list_resources", {"kind": "Secret"}))
    for tool, arguments in attempts:
        text, is_error = _tool(tenants, tool, arguments)
        assert is_error, (tool, arguments, text)
        assert '"systemPrompt": "b"' not in text and tenants.b_key not in text
        assert "/usr/" not in text and "Traceback" not in text
    # The run's own namespace answers, and holds only its own Agent.
    text, is_error = _tool(tenants, "list_resources", {"kind": "Agent"})
    assert not is_error and [i["name"] for i in json.loads(text)["items"]] == ["mine"]
