"""Fixtures for the security tests: the session's API server with two tenants on it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from functions.resources.kubernetes import KubernetesStore
from tests.fixtures.kube import Cluster, kube, kube_crds, kube_store
from tests.fixtures.logs import all_logs  # noqa: F401 - the fixture, shared
from tests.security.servers import Servers, running_servers

__all__ = ["Tenants", "kube", "kube_crds", "kube_store", "servers", "tenants"]

API = "baton.dev/v1alpha1"
B_KEY = "sk-ant-tenant-b-0123456789abcdef"


@dataclass
class Tenants:
    """Two namespaces; tenant-b holds an Agent, a Model and the Secret with its API key."""

    cluster: Cluster
    store: KubernetesStore
    a: str
    b: str
    b_key: str = B_KEY


def _obj(kind: str, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


@pytest.fixture(scope="session")
def tenants(kube: Cluster, kube_store: KubernetesStore) -> Tenants:
    """tenant-a (its own Agent) and tenant-b (Agent x, Model m, the Secret with its key)."""
    # Named after the session's throwaway namespace: on a real cluster they stay apart too.
    tenant_a, tenant_b = f"{kube.namespace}-tenant-a", f"{kube.namespace}-tenant-b"
    for namespace in (tenant_a, tenant_b):
        if kube.kubectl("get", "namespace", namespace, check=False).returncode != 0:
            kube.kubectl("create", "namespace", namespace)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "anthropic", "namespace": tenant_b},
        "data": {"api-key": base64.b64encode(B_KEY.encode()).decode()},
    }
    kube_store.api.request("POST", f"/api/v1/namespaces/{tenant_b}/secrets", body=secret)
    model = {"provider": "anthropic", "model": "claude-x", "apiKeySecretRef": {"name": "anthropic"}}
    kube_store.create(_obj("Model", tenant_b, "m", model))
    kube_store.create(
        _obj("Agent", tenant_b, "x", {"modelRef": {"name": "m"}, "systemPrompt": "b"})
    )
    kube_store.create(_obj("Agent", tenant_a, "mine", {"modelRef": {"name": "m"}}))
    return Tenants(kube, kube_store, tenant_a, tenant_b)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The route function and the chat webhook under gunicorn (see ``servers``)."""
    with running_servers(tmp_path_factory.mktemp("served")) as running:
        yield running
