"""Least privilege, asked of the real API server with ``kubectl auth can-i``.

The project's own Roles (config/rbac) and the per-namespace opt-in (config/tenant) are
applied to the tests' kube-apiserver (RBAC authorization on); each ServiceAccount is then
asked what it may do. The matrix printed by ``test_can_i_matrix`` is the one in the README.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from tests.fixtures.kube import REPO, Cluster
from tests.security.conftest import Tenants

SYSTEM = "baton-system"
FUNCTIONS = f"system:serviceaccount:{SYSTEM}:baton-functions"
SOURCE = f"system:serviceaccount:{SYSTEM}:baton-apiserversource"
WEBHOOK = f"system:serviceaccount:{SYSTEM}:baton-webhook"
MCP = f"system:serviceaccount:{SYSTEM}:baton-mcp-servers"
ACCOUNTS = {"baton-functions": FUNCTIONS, "baton-apiserversource": SOURCE}
ACCOUNTS |= {"baton-webhook": WEBHOOK, "baton-mcp-servers": MCP}


@pytest.fixture(scope="module")
def rbac(tenants: Tenants) -> Iterator[Tenants]:
    """config/rbac installed; tenant-a opted in to Secret reads, tenant-b not."""
    cluster = tenants.cluster
    if not cluster.owned:
        pytest.skip("installs ClusterRoles: only on the tests' own API server")
    cluster.kubectl("apply", "-f", str(REPO / "config" / "namespace.yaml"))
    cluster.kubectl("apply", "-f", str(REPO / "config" / "rbac"))
    opt_in = str(REPO / "config" / "tenant" / "model-secrets.yaml")
    cluster.kubectl("apply", "-n", tenants.a, "-f", opt_in)
    yield tenants


def can(cluster: Cluster, who: str, verb: str, resource: str, namespace: str | None) -> bool:
    """``kubectl auth can-i`` for ``who``; ``namespace`` None asks cluster-wide (-A)."""
    where = ["-A"] if namespace is None else ["-n", namespace]
    proc = cluster.kubectl("auth", "can-i", verb, resource, *where, f"--as={who}", check=False)
    return proc.stdout.strip() == "yes"


def test_functions_read_secrets_only_where_a_namespace_opted_in(rbac: Tenants) -> None:
    """No cluster-wide Secret access; get in tenant-a (opted in), nothing in tenant-b."""
    cluster = rbac.cluster
    assert not can(cluster, FUNCTIONS, "get", "secrets", None)
    assert not can(cluster, FUNCTIONS, "get", "secrets", rbac.b)
    assert not can(cluster, FUNCTIONS, "get", "secrets", SYSTEM)
    assert can(cluster, FUNCTIONS, "get", "secrets", rbac.a)
    for verb in ("list", "watch", "create", "update", "delete"):
        assert not can(cluster, FUNCTIONS, verb, "secrets", rbac.a), verb


def test_the_store_is_refused_a_secret_of_a_namespace_that_did_not_opt_in(rbac: Tenants) -> None:
    """As baton-functions, tenant-b's key cannot be read: a Forbidden naming no value."""
    from events.errors import PermanentError
    from functions.kube.api import KubeAPI
    from functions.resources.kubernetes import KubernetesStore

    cluster = rbac.cluster
    # The real API server impersonating the functions' account (kubectl's --as, in the client).
    client = rbac.store.api.client
    client.default_headers["Impersonate-User"] = FUNCTIONS
    try:
        store = KubernetesStore(KubeAPI(client))
        with pytest.raises(PermanentError) as refused:
            store.read_secret(rbac.b, "anthropic", "api-key")
        assert refused.value.reason == "Forbidden"
        assert rbac.b_key not in str(refused.value)
    finally:
        del client.default_headers["Impersonate-User"]
    assert cluster.kubectl("get", "ns", rbac.b).returncode == 0


def test_webhook_and_mcp_accounts_hold_no_token_and_no_rights(rbac: Tenants) -> None:
    """The internet-facing webhook and stdio MCP servers: no token mounted, nothing allowed."""
    docs = list(
        yaml.safe_load_all((REPO / "config" / "rbac" / "service_accounts.yaml").read_text())
    )
    automount = {d["metadata"]["name"]: d.get("automountServiceAccountToken") for d in docs if d}
    assert automount["baton-webhook"] is False
    assert automount["baton-mcp-servers"] is False
    for who in (WEBHOOK, MCP):
        for verb, resource in MATRIX:
            assert not can(rbac.cluster, who, verb, resource, rbac.a), (who, verb, resource)


def test_knative_services_use_the_narrow_accounts() -> None:
    """The webhook runs as baton-webhook; call-tool refuses stdio MCP servers."""
    services = REPO / "knative" / "base" / "services"
    webhook = yaml.safe_load((services / "webhook.yaml").read_text())
    assert webhook["spec"]["template"]["spec"]["serviceAccountName"] == "baton-webhook"
    call_tool = yaml.safe_load((services / "call-tool.yaml").read_text())
    env = {
        e["name"]: e.get("value")
        for e in call_tool["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["BATON_MCP_STDIO"] == "off"


MATRIX = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("get", "agentruns.baton.dev"),
    ("create", "agentruns.baton.dev"),
    ("update", "agentruns.baton.dev/status"),
    ("delete", "agentruns.baton.dev"),
    ("get", "agents.baton.dev"),
    ("update", "agents.baton.dev"),
    ("create", "configmaps"),
    ("delete", "configmaps"),
    ("create", "events"),
    ("create", "pods"),
    ("list", "namespaces"),
]


def test_can_i_matrix(rbac: Tenants) -> None:
    """The whole matrix, per account: cluster-wide, an opted-in and another namespace."""
    cluster = rbac.cluster
    scopes = {"all": None, "opted-in": rbac.a, "other": rbac.b}
    rows = []
    table: dict[tuple[str, str, str], bool] = {}
    for account, who in ACCOUNTS.items():
        for verb, resource in MATRIX:
            cells = []
            for scope, namespace in scopes.items():
                allowed = can(cluster, who, verb, resource, namespace)
                table[(account, f"{verb} {resource}", scope)] = allowed
                cells.append("yes" if allowed else "no")
            rows.append(f"| {account} | {verb} {resource} | {' | '.join(cells)} |")
    print("\n| account | verb resource | all namespaces | opted-in namespace | other namespace |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    # What the functions need, and the limits that matter.
    assert table[("baton-functions", "create agentruns.baton.dev", "all")]
    assert table[("baton-functions", "update agentruns.baton.dev/status", "other")]
    assert not table[("baton-functions", "get secrets", "all")]
    assert not table[("baton-functions", "get secrets", "other")]
    assert table[("baton-functions", "get secrets", "opted-in")]
    assert not table[("baton-functions", "update agents.baton.dev", "opted-in")]
    assert not table[("baton-functions", "create pods", "opted-in")]
    assert not table[("baton-apiserversource", "create agentruns.baton.dev", "opted-in")]
    assert not any(
        v for (a, _, _), v in table.items() if a in ("baton-webhook", "baton-mcp-servers")
    )


def _selects(policy: dict[str, object], labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]  # type: ignore[index]
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        present = expr["key"] in labels
        if expr["operator"] == "Exists" and not present:
            return False
        if expr["operator"] == "NotIn" and present and labels[expr["key"]] in expr["values"]:
            return False
        if expr["operator"] == "In" and labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def test_every_function_is_behind_a_network_policy_that_admits_only_knative() -> None:
    """Each Knative Service's pods are selected by one NetworkPolicy; a function's admits
    only Knative's namespaces (eventing, serving, the gateway), never the whole cluster."""
    base = REPO / "knative" / "base"
    policies = [d for d in yaml.safe_load_all((base / "network-policies.yaml").read_text()) if d]
    knative = {"knative-eventing", "knative-serving", "kourier-system"}
    for path in sorted((base / "services").glob("*.yaml")):
        service = yaml.safe_load(path.read_text())
        labels = service["spec"]["template"]["metadata"]["labels"]
        (policy,) = [p for p in policies if _selects(p, labels)]
        sources = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
        assert sources, path.name
        for peer in sources:
            namespace = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
            assert namespace.get("kubernetes.io/metadata.name") in knative, (path.name, peer)
