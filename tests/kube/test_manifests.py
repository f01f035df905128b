"""Every manifest in config/ and knative/ is accepted by a real API server with the CRDs.

``kubectl apply --dry-run=server`` runs admission and the CRDs' schema validation; the
checks in ``manifest_checks`` add what a 1.20 server without Knative's webhook lets through.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.knative_crds import knative_crds
from tests.fixtures.kube import REPO, Cluster, install_crds
from tests.kube.manifest_checks import crd_schemas, server_dry_run

FOLDERS = [REPO / "config", REPO / "knative"]
FUNCTIONS_SA = "system:serviceaccount:baton-system:baton-functions"
SOURCE_SA = "system:serviceaccount:baton-system:baton-apiserversource"


def manifest_files() -> list[Path]:
    """Every YAML manifest under config/ and knative/ (kustomization files are rendered)."""
    return sorted(
        p for folder in FOLDERS for p in folder.rglob("*.yaml") if p.name != "kustomization.yaml"
    )


def kustomizations() -> list[Path]:
    """Every folder under config/ and knative/ holding a kustomization."""
    return sorted(p.parent for folder in FOLDERS for p in folder.rglob("kustomization.yaml"))


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


def schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """The schemas of baton's and Knative's CRDs."""
    return crd_schemas([REPO / "config" / "crd", _knative_crds()])


@functools.cache
def _knative_crds() -> Path:
    return knative_crds()


@pytest.fixture(scope="module")
def cluster(kube: Cluster, kube_crds: list[str]) -> Iterator[Cluster]:
    """The session's own API server with baton's and Knative's CRDs and baton-system."""
    if not kube.owned:
        pytest.skip("installs Knative CRDs and ClusterRoles: only on the tests' own API server")
    install_crds(kube, _knative_crds())
    kube.kubectl("apply", "-f", str(REPO / "config" / "namespace.yaml"))
    yield kube


def test_baton_crds_are_established(kube: Cluster, kube_crds: list[str]) -> None:
    """The five baton CRDs install and the API server serves their kinds."""
    assert sorted(kube_crds) == [
        "agentruns.baton.dev",
        "agents.baton.dev",
        "agenttriggers.baton.dev",
        "mcpservers.baton.dev",
        "models.baton.dev",
    ]
    out = kube.kubectl("api-resources", "--api-group=baton.dev", "-o", "name").stdout.split()
    assert sorted(out) == sorted(kube_crds)


def test_knative_crds_are_established(cluster: Cluster) -> None:
    """Knative Serving, Eventing and eventing-natss CRDs serve the kinds baton's manifests use."""
    names = set(cluster.kubectl("api-resources", "-o", "name").stdout.split())
    for needed in (
        "services.serving.knative.dev",
        "brokers.eventing.knative.dev",
        "triggers.eventing.knative.dev",
        "apiserversources.sources.knative.dev",
        "pingsources.sources.knative.dev",
        "sinkbindings.sources.knative.dev",
        "natsjetstreamchannels.messaging.knative.dev",
    ):
        assert needed in names


@pytest.mark.parametrize("path", manifest_files(), ids=_ids(manifest_files()))
def test_manifest_passes_server_dry_run(cluster: Cluster, path: Path) -> None:
    """The file is accepted as is, with no field dropped."""
    assert server_dry_run(cluster, path.read_text(), schemas())


@pytest.mark.parametrize("folder", kustomizations(), ids=_ids(kustomizations()))
def test_kustomization_renders_and_passes_server_dry_run(cluster: Cluster, folder: Path) -> None:
    """``kubectl kustomize`` renders the folder and the result is accepted whole."""
    rendered = cluster.kubectl("kustomize", str(folder)).stdout
    assert server_dry_run(cluster, rendered, schemas())


def test_config_kustomization_installs_every_crd() -> None:
    """config/kustomization.yaml lists every CRD file, so `kubectl apply -k config` is complete."""
    listed = yaml.safe_load((REPO / "config" / "kustomization.yaml").read_text())["resources"]
    crds = {f"crd/{p.name}" for p in (REPO / "config" / "crd").glob("*.yaml")}
    assert crds <= set(listed)


def test_nats_overlay_channel_template_is_a_valid_channel(cluster: Cluster) -> None:
    """The nats-jetstream broker's channel template makes a NatsJetStreamChannel the CRD takes."""
    rendered = cluster.kubectl("kustomize", str(REPO / "knative/overlays/nats-jetstream")).stdout
    (config,) = [
        d
        for d in yaml.safe_load_all(rendered)
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "baton-broker-channel"
    ]
    template = yaml.safe_load(config["data"]["channel-template-spec"])
    assert template["kind"] == "NatsJetStreamChannel"
    channel = {**template, "metadata": {"name": "template-check", "namespace": "baton-system"}}
    assert server_dry_run(cluster, yaml.safe_dump(channel), schemas())


BAD_MANIFESTS = {
    "agentrun-without-agentRef": """
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: no-agent, namespace: default}
spec: {task: hello}
""",
    "trigger-with-misspelled-filter": """
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: misspelled, namespace: baton-system}
spec:
  broker: default
  filtr: {attributes: {type: dev.baton.run.accepted}}
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: baton-validate}}
""",
    "service-with-text-concurrency": """
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: wrong-type, namespace: baton-system}
spec:
  template:
    spec:
      containerConcurrency: many
      containers: [{image: baton}]
""",
}


@pytest.mark.parametrize("name", sorted(BAD_MANIFESTS))
def test_bad_manifest_is_rejected(cluster: Cluster, name: str) -> None:
    """The check fails for a manifest with a missing, misspelled or mistyped field."""
    with pytest.raises(AssertionError) as refused:
        server_dry_run(cluster, BAD_MANIFESTS[name], schemas())
    assert any(word in str(refused.value) for word in ("agentRef", "filtr", "containerConcurrency"))


def _can(cluster: Cluster, who: str, *args: str) -> bool:
    proc = cluster.kubectl("auth", "can-i", *args, f"--as={who}", check=False)
    return proc.stdout.strip() == "yes"


def test_rbac_gives_the_functions_what_they_need_and_no_more(cluster: Cluster) -> None:
    """The functions' account writes runs, status and journal; nothing beyond."""
    cluster.kubectl("apply", "-f", str(REPO / "config" / "rbac"))
    ns = ["-n", "team-a"]
    assert _can(cluster, FUNCTIONS_SA, "create", "agentruns.baton.dev", *ns)
    assert _can(cluster, FUNCTIONS_SA, "update", "agentruns.baton.dev", "--subresource=status", *ns)
    assert _can(cluster, FUNCTIONS_SA, "watch", "agentruns.baton.dev", *ns)
    assert _can(cluster, FUNCTIONS_SA, "create", "configmaps", *ns)
    # Secrets only where a namespace opted in (config/tenant/model-secrets.yaml): not here.
    assert not _can(cluster, FUNCTIONS_SA, "get", "secrets", *ns)
    assert _can(cluster, FUNCTIONS_SA, "create", "events", *ns)
    assert not _can(cluster, FUNCTIONS_SA, "list", "secrets", *ns)
    assert not _can(cluster, FUNCTIONS_SA, "delete", "configmaps", *ns)
    assert not _can(cluster, FUNCTIONS_SA, "update", "agents.baton.dev", *ns)
    assert not _can(cluster, FUNCTIONS_SA, "create", "pods", *ns)


def test_rbac_lets_the_trigger_function_feed_triggers_and_no_more(cluster: Cluster) -> None:
    """AgentTrigger status, the three Knative kinds it generates, read-only Pods/Events/logs;
    no RBAC objects (no escalation), no Secrets listed, no Pods changed."""
    cluster.kubectl("apply", "-f", str(REPO / "config" / "rbac"))
    ns = ["-n", "team-a"]
    assert _can(
        cluster, FUNCTIONS_SA, "update", "agenttriggers.baton.dev", "--subresource=status", *ns
    )
    assert not _can(cluster, FUNCTIONS_SA, "update", "agenttriggers.baton.dev", *ns)
    for resource in ("apiserversources.sources.knative.dev", "pingsources.sources.knative.dev",
                     "triggers.eventing.knative.dev"):  # fmt: skip
        assert _can(cluster, FUNCTIONS_SA, "create", resource, *ns), resource
        assert _can(cluster, FUNCTIONS_SA, "delete", resource, *ns), resource
    assert _can(cluster, FUNCTIONS_SA, "get", "pods", "--subresource=log", *ns)
    assert _can(cluster, FUNCTIONS_SA, "list", "events", *ns)
    assert not _can(cluster, FUNCTIONS_SA, "create", "roles.rbac.authorization.k8s.io", *ns)
    assert not _can(cluster, FUNCTIONS_SA, "create", "rolebindings.rbac.authorization.k8s.io", *ns)
    assert not _can(cluster, FUNCTIONS_SA, "delete", "pods", *ns)
    assert not _can(cluster, FUNCTIONS_SA, "create", "containersources.sources.knative.dev", *ns)


def test_rbac_lets_the_source_only_watch_runs(cluster: Cluster) -> None:
    """The ApiServerSource's account can watch AgentRuns and cannot change anything."""
    cluster.kubectl("apply", "-f", str(REPO / "config" / "rbac"))
    assert _can(cluster, SOURCE_SA, "watch", "agentruns.baton.dev", "-A")
    assert _can(cluster, SOURCE_SA, "watch", "agenttriggers.baton.dev", "-A")
    assert _can(cluster, SOURCE_SA, "list", "namespaces")
    assert not _can(cluster, SOURCE_SA, "create", "agentruns.baton.dev", "-n", "team-a")
    assert not _can(cluster, SOURCE_SA, "get", "secrets", "-n", "team-a")
