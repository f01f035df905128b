"""On Knative, each AgentTrigger is reconciled into the objects that feed it (real API server).

Knative's CRDs are installed on envtest; the generated objects pass ``--dry-run=server``,
are created owned by the trigger, follow a change of source, and go with the trigger.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from events.apiserver import resource_event
from functions import trigger as trigger_function
from functions.kube.api import KubeAPI, connect
from functions.ports import Deps
from functions.resources.kubernetes import KubernetesStore
from functions.runtime.deps import build_deps
from functions.trigger.knative import objects_for
from functions.trigger.spec import compiled
from tests.fakes.clock import FakeClock
from tests.fixtures.knative_crds import knative_crds
from tests.fixtures.kube import Cluster, install_crds, kube, kube_crds
from tests.triggers.conftest import trigger

__all__ = ["kube", "kube_crds"]

SINK = "http://baton-trigger.baton-system.svc.cluster.local"
KINDS = {
    "ApiServerSource": "apiserversources.sources.knative.dev",
    "PingSource": "pingsources.sources.knative.dev",
    "Trigger": "triggers.eventing.knative.dev",
}
SOURCES = {
    "kubernetes": {"kubernetes": {"apiVersion": "v1", "kind": "Pod",
                                  "labelSelector": {"matchLabels": {"app": "shop"}}}},
    "schedule": {"schedule": {"cron": "0 9 * * 1-5", "timeZone": "Europe/Berlin"}},
    "cloudEvent": {"cloudEvent": {"type": "com.github.push", "source": "/github/acme"}},
}  # fmt: skip
EXPECTED = {"kubernetes": "ApiServerSource", "schedule": "PingSource", "cloudEvent": "Trigger"}


@pytest.fixture(scope="module")
def cluster(kube: Cluster, kube_crds: list[str]) -> Iterator[Cluster]:
    """The API server with baton's and Knative's CRDs."""
    if not kube.owned:
        pytest.skip("installs Knative CRDs: only on the tests' own API server")
    install_crds(kube, knative_crds())
    yield kube


@pytest.fixture
def kdeps(cluster: Cluster) -> Deps:
    """Deps over a Kubernetes store that reconciles Knative objects (as the trigger Service)."""
    store = KubernetesStore(KubeAPI(connect(cluster.kubeconfig)), trigger_sink=SINK)
    deps = build_deps(store, channels=None)
    return dataclasses.replace(deps, clock=FakeClock())


def _apply(cluster: Cluster, name: str, source: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """kubectl apply, as a user would: no baton check on the way in."""
    obj = trigger(name, source, "Look at {{ data.metadata.name }}", **spec)
    obj["metadata"]["namespace"] = cluster.namespace
    cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))
    got = cluster.kubectl("get", "agenttrigger", name, "-n", cluster.namespace, "-o", "json")
    return dict(json.loads(got.stdout))


def _generated(cluster: Cluster, kind: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", KINDS[kind], "-n", cluster.namespace, "-o", "json").stdout
    return list(json.loads(out)["items"])


def _handle(deps: Deps, change: str, obj: dict[str, Any]) -> None:
    trigger_function.handle(resource_event(change, obj), deps)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_generated_objects_pass_server_dry_run(cluster: Cluster, kdeps: Deps, source: str) -> None:
    """What the reconciler would write is accepted by the API server with Knative's CRDs."""
    obj = _apply(cluster, f"dry-{source.lower()}", SOURCES[source])
    [generated] = objects_for(obj, compiled(obj), SINK)
    assert generated["kind"] == EXPECTED[source]
    cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(generated))


def test_each_source_kind_gets_its_object_owned_by_the_trigger_and_deleted_with_it(
    cluster: Cluster, kdeps: Deps
) -> None:
    """Add -> the object exists with an ownerReference; new source -> swapped; delete -> gone."""
    obj = _apply(cluster, "feed", SOURCES["kubernetes"])
    _handle(kdeps, "ADDED", obj)
    [source] = _generated(cluster, "ApiServerSource")
    owner = source["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"]) == ("AgentTrigger", obj["metadata"]["uid"])
    assert source["spec"]["ceOverrides"]["extensions"]["batontrigger"] == (
        f"{cluster.namespace}.feed"
    )
    assert source["spec"]["sink"]["uri"] == SINK
    status = kdeps.store.get("AgentTrigger", cluster.namespace, "feed")["status"]
    assert [c["status"] for c in status["conditions"] if c["type"] == "Ready"] == ["True"]

    for kind in ("schedule", "cloudEvent"):
        edited = {**obj, "metadata": {"name": "feed", "namespace": cluster.namespace}}
        edited["spec"] = {**obj["spec"], "source": SOURCES[kind]}
        edited.pop("status", None)
        cluster.kubectl("apply", "-f", "-", input=json.dumps(edited))
        updated = kdeps.store.get("AgentTrigger", cluster.namespace, "feed")
        _handle(kdeps, "MODIFIED", updated)
        present = {k: len(_generated(cluster, k)) for k in KINDS}
        assert present == {k: int(k == EXPECTED[kind]) for k in KINDS}
    [knative_trigger] = _generated(cluster, "Trigger")
    assert knative_trigger["spec"]["filter"]["attributes"] == {
        "type": "com.github.push",
        "source": "/github/acme",
    }

    cluster.kubectl("delete", "agenttrigger", "feed", "-n", cluster.namespace)
    _handle(kdeps, "DELETED", obj)
    assert {k: len(_generated(cluster, k)) for k in KINDS} == dict.fromkeys(KINDS, 0)


def test_a_trigger_applied_with_kubectl_that_cannot_work_is_not_ready(
    cluster: Cluster, kdeps: Deps
) -> None:
    """No webhook refuses it: the trigger function marks it Ready=False with the position."""
    obj = _apply(cluster, "broken", SOURCES["cloudEvent"], when='data.ref == "main" &&')
    _handle(kdeps, "ADDED", obj)
    status = kdeps.store.get("AgentTrigger", cluster.namespace, "broken")["status"]
    [ready] = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert ready["message"].startswith("spec.when: line 1, column 22: Syntax error")
    generated = [
        t["metadata"]["labels"]["baton.dev/trigger"] for t in _generated(cluster, "Trigger")
    ]
    assert "broken" not in generated
