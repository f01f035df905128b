"""The validator's refusals match a real kube-apiserver's (v1.20 envtest) word for word.

Two deliberate differences are normalized away: we name list items with their index
(``spec.script[0].name``, as newer API servers do; 1.20 writes ``spec.script.name``),
and several errors come in schema order (1.20's order follows Go map iteration).
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

import pytest

from functions.ports import API_VERSION, Invalid, Resource
from functions.resources.schema import plural_of, validate_and_default


def server_create(kube_store: Any, obj: Resource) -> Resource:
    """POST straight to the API server (KubernetesStore validates first with our schema)."""
    path = f"/apis/baton.dev/v1alpha1/namespaces/{obj['metadata']['namespace']}"
    result: Resource = kube_store.api.request(
        "POST", f"{path}/{plural_of(obj['kind'])}", body=copy.deepcopy(obj)
    )
    return result


def bad(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """An object of ``kind`` with ``spec`` and a fresh name."""
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": f"bad-{uuid.uuid4().hex[:8]}"},
        "spec": spec,
    }


CASES = {
    "required": bad("AgentRun", {"agentRef": {}}),
    "enum": bad("AgentRun", {"agentRef": {"name": "a"}, "mode": "forever"}),
    "pattern": bad("AgentRun", {"agentRef": {"name": "a"}, "timeout": "5 min"}),
    "type": bad("Model", {"provider": "scripted", "maxTokens": "many"}),
    "minimum": bad("Model", {"provider": "scripted", "maxTokens": 0}),
    "maximum": bad("Model", {"provider": "scripted", "temperature": 2}),
    "nested": bad("Model", {"provider": "scripted", "script": [{"toolCalls": [{}]}]}),
    "two": bad("AgentRun", {"agentRef": {}, "cleanup": "never"}),
}


def normalized(error: Invalid) -> tuple[str, set[str], str]:
    """Prefix, the set of field errors, and the field path, without list indices."""
    text = re.sub(r"\[\d+\]", "", str(error))
    prefix, _, detail = text.partition(" is invalid: ")
    if detail.startswith("[") and detail.endswith("]"):
        # Field errors are "path: detail"; split where the next field path starts.
        items = set(re.split(r", (?=spec\.|metadata\.|status\.)", detail[1:-1]))
    else:
        items = {detail}
    return prefix, items, re.sub(r"\[\d+\]", "", error.field)


@pytest.mark.parametrize("case", sorted(CASES))
def test_refusal_matches_the_api_server(case: str, kube_store: Any, kube: Any) -> None:
    """The same object gets the same 'is invalid' message from us and from kube-apiserver."""
    obj = copy.deepcopy(CASES[case])
    obj["metadata"]["namespace"] = kube.namespace
    with pytest.raises(Invalid) as ours:
        validate_and_default(copy.deepcopy(obj))
    with pytest.raises(Invalid) as theirs:
        server_create(kube_store, obj)
    assert normalized(ours.value)[:2] == normalized(theirs.value)[:2]
    if case != "two":  # which of several errors comes first differs (see above)
        assert normalized(ours.value)[2] == normalized(theirs.value)[2]


GOOD = {
    "agent": bad("Agent", {"modelRef": {"name": "m"}, "limits": {"maxTurns": 3}}),
    "model-null": bad(
        "Model", {"provider": "anthropic", "maxTokens": None, "apiKeySecretRef": {"name": "k"}}
    ),
    "run": bad("AgentRun", {"agentRef": {"name": "a"}, "task": "t"}),
    "mcp": bad("MCPServer", {"transport": "stdio", "command": "x", "env": [{"name": "A"}]}),
}


@pytest.mark.parametrize("case", sorted(GOOD))
def test_defaults_match_the_api_server(case: str, kube_store: Any, kube: Any) -> None:
    """The spec we default is the spec kube-apiserver stores for the same object."""
    obj = copy.deepcopy(GOOD[case])
    obj["metadata"]["namespace"] = kube.namespace
    ours = validate_and_default(copy.deepcopy(obj))
    theirs = server_create(kube_store, obj)
    assert ours["spec"] == theirs["spec"]
