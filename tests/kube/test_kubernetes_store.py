"""KubernetesStore against a real kube-apiserver: CRUD, conflicts, validation, watch, journal."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from events.errors import PermanentError
from functions.ports import Conflict, Expired, Invalid, NotFound
from functions.resources.k8s_journal import RUN_LABEL, RUN_UID_LABEL, journal_name
from functions.resources.kubernetes import KubernetesStore
from tests.fixtures.kube import Cluster


def _name(prefix: str = "run") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def agent_run(namespace: str, name: str | None = None, **spec: Any) -> dict[str, Any]:
    """A minimal valid AgentRun."""
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": name or _name(), "namespace": namespace, "labels": {"team": "a"}},
        "spec": {"agentRef": {"name": "helper"}, "task": "say hi", **spec},
    }


def test_create_get_list_delete(kube_store: KubernetesStore, kube: Cluster) -> None:
    """A created run reads back with uid and version, lists by label, and is gone after delete."""
    created = kube_store.create(agent_run(kube.namespace))
    name = created["metadata"]["name"]
    assert created["metadata"]["uid"]
    assert created["metadata"]["generation"] == 1
    got = kube_store.get("AgentRun", kube.namespace, name)
    assert got["spec"]["task"] == "say hi"
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    listed = kube_store.list("AgentRun", kube.namespace, {"team": "a"})
    assert name in [r["metadata"]["name"] for r in listed]
    assert kube_store.list("AgentRun", kube.namespace, {"team": "nobody"}) == []
    kube_store.delete("AgentRun", kube.namespace, name)
    with pytest.raises(NotFound):
        kube_store.get("AgentRun", kube.namespace, name)
    with pytest.raises(NotFound):
        kube_store.delete("AgentRun", kube.namespace, name)


def test_kubectl_sees_what_the_store_wrote(kube_store: KubernetesStore, kube: Cluster) -> None:
    """The store writes real custom resources: kubectl reads the same object."""
    created = kube_store.create(agent_run(kube.namespace))
    out = kube.kubectl(
        "get", "agentrun", created["metadata"]["name"], "-n", kube.namespace,
        "-o", "jsonpath={.spec.agentRef.name}",
    )  # fmt: skip
    assert out.stdout == "helper"


def test_create_twice_conflicts(kube_store: KubernetesStore, kube: Cluster) -> None:
    """Creating a name that exists is a Conflict, as route relies on for idempotent runs."""
    run = agent_run(kube.namespace)
    kube_store.create(run)
    with pytest.raises(Conflict):
        kube_store.create(run)


def test_stale_resource_version_conflicts(kube_store: KubernetesStore, kube: Cluster) -> None:
    """Two writers with the same read: the second write is a Conflict, the first one stays."""
    run = kube_store.create(agent_run(kube.namespace))
    first = {**run, "status": {"phase": "Running", "step": 1}}
    second = {**run, "status": {"phase": "Failed", "step": 1}}
    written = kube_store.update_status(first)
    with pytest.raises(Conflict):
        kube_store.update_status(second)
    assert written["status"]["phase"] == "Running"
    stored = kube_store.get("AgentRun", kube.namespace, run["metadata"]["name"])
    assert stored["status"]["phase"] == "Running"


def test_update_status_leaves_spec_and_generation(
    kube_store: KubernetesStore, kube: Cluster
) -> None:
    """update_status writes status only: spec edits in the same object are ignored."""
    run = kube_store.create(agent_run(kube.namespace))
    changed = {**run, "spec": {**run["spec"], "task": "edited"}, "status": {"phase": "Pending"}}
    written = kube_store.update_status(changed)
    assert written["spec"]["task"] == "say hi"
    assert written["status"]["phase"] == "Pending"
    assert written["metadata"]["generation"] == 1


def test_update_bumps_generation_and_keeps_status(
    kube_store: KubernetesStore, kube: Cluster
) -> None:
    """update writes spec (generation + 1) and cannot touch status."""
    run = kube_store.create(agent_run(kube.namespace))
    run = kube_store.update_status({**run, "status": {"phase": "Running"}})
    edited = {**run, "spec": {**run["spec"], "task": "edited"}, "status": {"phase": "Failed"}}
    written = kube_store.update(edited)
    assert written["spec"]["task"] == "edited"
    assert written["metadata"]["generation"] == 2
    assert written["status"]["phase"] == "Running"


def test_invalid_resource_names_the_field(kube_store: KubernetesStore, kube: Cluster) -> None:
    """An AgentRun without agentRef is refused by the CRD schema with the field path."""
    run = agent_run(kube.namespace)
    del run["spec"]["agentRef"]
    with pytest.raises(Invalid) as caught:
        kube_store.create(run)
    assert caught.value.field == "spec.agentRef"
    with pytest.raises(NotFound):
        kube_store.get("AgentRun", kube.namespace, run["metadata"]["name"])


def test_unknown_kind_is_invalid(kube_store: KubernetesStore, kube: Cluster) -> None:
    """A kind baton does not define is refused before any request."""
    with pytest.raises(Invalid):
        kube_store.get("Pod", kube.namespace, "x")


def test_watch_sees_add_modify_delete(kube_store: KubernetesStore, kube: Cluster) -> None:
    """A watch from a resourceVersion reports the later add, status change and delete in order."""
    since = kube_store.create(agent_run(kube.namespace))["metadata"]["resourceVersion"]
    run = kube_store.create(agent_run(kube.namespace))
    name = run["metadata"]["name"]
    kube_store.update_status({**run, "status": {"phase": "Running"}})
    kube_store.delete("AgentRun", kube.namespace, name)
    seen = [
        (e.type, e.object.get("status", {}).get("phase"))
        for e in kube_store.watch("AgentRun", kube.namespace, since=since, timeout=3)
        if e.object["metadata"]["name"] == name
    ]
    assert seen == [("ADDED", None), ("MODIFIED", "Running"), ("DELETED", "Running")]


def test_watch_ends_at_timeout(kube_store: KubernetesStore, kube: Cluster) -> None:
    """A quiet watch with a timeout returns instead of blocking forever."""
    version = kube_store.create(agent_run(kube.namespace))["metadata"]["resourceVersion"]
    other_namespace_events = list(kube_store.watch("Agent", "nowhere", since=version, timeout=1))
    assert other_namespace_events == []


def test_watch_from_a_compacted_version_is_expired(
    kube_store: KubernetesStore, kube: Cluster
) -> None:
    """A resourceVersion older than the change log raises Expired (list again)."""
    with pytest.raises(Expired):
        list(kube_store.watch("AgentRun", kube.namespace, since="1", timeout=3))


def test_journal_appends_once_and_reads_in_order(
    kube_store: KubernetesStore, kube: Cluster
) -> None:
    """Entries come back in write order; a repeated key is refused and changes nothing."""
    run = kube_store.create(agent_run(kube.namespace))
    keys = [f"step-{i}/llm" for i in (3, 1, 2, 10)]  # order of writing, not of sorting
    for i, key in enumerate(keys):
        assert kube_store.append_journal(run, key, {"role": "assistant", "n": i}) is True
    assert kube_store.append_journal(run, keys[0], {"role": "assistant", "n": 99}) is False
    journal = kube_store.read_journal(run)
    assert [k for k, _ in journal] == keys
    assert journal[0][1] == {"role": "assistant", "n": 0}


def test_journal_is_owned_by_the_run(kube_store: KubernetesStore, kube: Cluster) -> None:
    """Journal ConfigMaps are immutable, labelled, and owned by the run for garbage collection."""
    run = kube_store.create(agent_run(kube.namespace))
    kube_store.append_journal(run, "step-1/llm", {"text": "héllo ✓"})
    name = journal_name(run["metadata"]["name"], run["metadata"]["uid"], "step-1/llm")
    out = kube.kubectl("get", "configmap", name, "-n", kube.namespace, "-o", "json")
    configmap = json.loads(out.stdout)
    assert configmap["immutable"] is True
    assert configmap["metadata"]["labels"][RUN_LABEL] == run["metadata"]["name"]
    assert configmap["metadata"]["labels"][RUN_UID_LABEL] == run["metadata"]["uid"]
    (owner,) = configmap["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("AgentRun", run["metadata"]["uid"])
    assert kube_store.read_journal(run) == [("step-1/llm", {"text": "héllo ✓"})]


def test_journal_of_a_new_run_with_an_old_name_is_empty(
    kube_store: KubernetesStore, kube: Cluster
) -> None:
    """A run re-created under the same name does not inherit entries awaiting collection."""
    run = kube_store.create(agent_run(kube.namespace))
    kube_store.append_journal(run, "step-1/llm", {"text": "old"})
    kube_store.delete("AgentRun", kube.namespace, run["metadata"]["name"])
    again = kube_store.create(agent_run(kube.namespace, run["metadata"]["name"]))
    assert kube_store.read_journal(again) == []
    assert kube_store.append_journal(again, "step-1/llm", {"text": "new"}) is True


def test_journal_with_longest_run_name(kube_store: KubernetesStore, kube: Cluster) -> None:
    """A 253-character run name still gets valid journal names and an intact journal."""
    long_name = ("a" * 60 + ".") * 4 + "b" * 9
    assert len(long_name) == 253
    run = kube_store.create(agent_run(kube.namespace, long_name))
    assert kube_store.append_journal(run, "k", {"v": 1}) is True
    assert kube_store.read_journal(run) == [("k", {"v": 1})]


def test_oversized_journal_entry_is_invalid(kube_store: KubernetesStore, kube: Cluster) -> None:
    """An entry too big for a ConfigMap is refused with Invalid, not a server error."""
    run = kube_store.create(agent_run(kube.namespace))
    with pytest.raises(Invalid):
        kube_store.append_journal(run, "big", {"text": "x" * 1_100_000})


def test_read_secret(kube_store: KubernetesStore, kube: Cluster) -> None:
    """A Model key reads back from its Secret; a missing key or Secret is a PermanentError."""
    value = "sk-test-" + uuid.uuid4().hex
    kube.kubectl(
        "create", "secret", "generic", "model-key", "-n", kube.namespace,
        f"--from-literal=api-key={value}",
    )  # fmt: skip
    assert kube_store.read_secret(kube.namespace, "model-key", "api-key") == value
    with pytest.raises(PermanentError, match="model-key") as caught:
        kube_store.read_secret(kube.namespace, "model-key", "other")
    assert value not in str(caught.value)
    with pytest.raises(PermanentError, match="absent"):
        kube_store.read_secret(kube.namespace, "absent", "api-key")


def test_model_key_resolves_through_the_store(kube_store: KubernetesStore, kube: Cluster) -> None:
    """The store is the SecretResolver a Model's apiKeySecretRef is read with."""
    from functions.models.keys import resolve_api_key

    kube.kubectl(
        "create", "secret", "generic", "anthropic", "-n", kube.namespace,
        "--from-literal=api-key=sk-ant-abc",
    )  # fmt: skip
    model = {
        "metadata": {"name": "m", "namespace": kube.namespace},
        "spec": {"apiKeySecretRef": {"name": "anthropic", "key": "api-key"}},
    }
    key = resolve_api_key(model, kube_store.read_secret)
    assert key.value == "sk-ant-abc"
    assert "sk-ant-abc" not in repr(key)


def test_store_from_kubeconfig_env(
    kube_store: KubernetesStore, kube: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no argument the store finds the cluster through KUBECONFIG, as kubectl does."""
    from functions.resources.kubernetes import kubernetes_store

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    store = kubernetes_store()
    created = store.create(agent_run(kube.namespace))
    assert kube_store.get("AgentRun", kube.namespace, created["metadata"]["name"])


def test_generate_name(kube_store: KubernetesStore, kube: Cluster) -> None:
    """A run with generateName gets a server-made name with that prefix."""
    run = agent_run(kube.namespace)
    run["metadata"] = {"generateName": "gen-", "namespace": kube.namespace}
    created = kube_store.create(run)
    assert created["metadata"]["name"].startswith("gen-")
    assert len(created["metadata"]["name"]) > len("gen-")
