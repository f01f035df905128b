"""The SRE built-ins read a Pod, its Events and its logs on a real API server, and no more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.ports import ToolCall, ToolContext, ToolResult
from functions.resources.kubernetes import KubernetesStore
from functions.tools.builtin import BUILTINS, run_builtin
from tests.fixtures.kube import Cluster, kube, kube_crds, kube_store

__all__ = ["kube", "kube_crds", "kube_store"]


def _call(store: KubernetesStore, run_namespace: str, tool: str, **arguments: Any) -> ToolResult:
    run = {"metadata": {"name": "investigate", "namespace": run_namespace}, "spec": {}}
    ctx = ToolContext(run=run, agent={}, idempotency_key="k", store=store)
    return run_builtin(BUILTINS[tool], ToolCall("t1", tool, arguments), ctx)


@pytest.fixture(scope="module")
def crashing_pod(kube: Cluster) -> str:
    """A Pod in CrashLoopBackOff (status written as a kubelet would) with one Event."""
    ns = kube.namespace
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "api-5c8d", "namespace": ns},
        "spec": {"containers": [{"name": "api", "image": "api:2.0",
                                 "env": [{"name": "DB_PASSWORD", "value": "hunter2"}]}]},
    }  # fmt: skip
    kube.kubectl("apply", "-f", "-", input=json.dumps(pod))
    waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}
    crashed = {"terminated": {"exitCode": 1, "reason": "Error"}}
    status = {"status": {"phase": "Running", "containerStatuses": [
        {"name": "api", "image": "api:2.0", "imageID": "", "ready": False, "restartCount": 4,
         "state": waiting, "lastState": crashed}]}}  # fmt: skip
    kube.kubectl("patch", "pod", "api-5c8d", "-n", ns, "--subresource=status", "--type=merge",
                 "-p", json.dumps(status))  # fmt: skip
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "api-5c8d.backoff", "namespace": ns},
        "involvedObject": {"kind": "Pod", "name": "api-5c8d", "namespace": ns},
        "type": "Warning",
        "reason": "BackOff",
        "message": "Back-off restarting failed container",
        "count": 7,
        "lastTimestamp": "2026-12-03T10:00:00Z",
    }
    kube.kubectl("apply", "-f", "-", input=json.dumps(event))
    return "api-5c8d"


def test_pod_status_shows_the_crash_loop_and_never_the_environment(
    kube: Cluster, kube_store: KubernetesStore, crashing_pod: str
) -> None:
    """Restarts, waiting reason and last exit code; the container's env stays out."""
    result = _call(kube_store, kube.namespace, "pod_status", name=crashing_pod)
    assert not result.is_error, result.content
    status = json.loads(result.content)
    [container] = status["containerStatuses"]
    assert container["restartCount"] == 4
    assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert container["lastState"]["terminated"]["exitCode"] == 1
    assert "hunter2" not in result.content and "DB_PASSWORD" not in result.content


def test_pod_events_lists_the_events_about_the_pod(
    kube: Cluster, kube_store: KubernetesStore, crashing_pod: str
) -> None:
    """The BackOff warning about this Pod, with its count."""
    result = _call(kube_store, kube.namespace, "pod_events", name=crashing_pod)
    events = json.loads(result.content)["events"]
    assert [(e["reason"], e["count"]) for e in events] == [("BackOff", 7)]


def test_pod_logs_reads_the_log_endpoint(
    kube: Cluster, kube_store: KubernetesStore, crashing_pod: str
) -> None:
    """No kubelet here, so no lines; a Pod that does not exist is an error the model reads."""
    result = _call(kube_store, kube.namespace, "pod_logs", name=crashing_pod, previous=True)
    assert (result.is_error, result.content) == (False, "(no log lines)")
    missing = _call(kube_store, kube.namespace, "pod_logs", name="api-gone")
    assert missing.is_error
    assert missing.content == "pod_logs: pod api-gone not found"


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("pod_status", {"name": "api-5c8d", "namespace": "kube-system"}, "only namespace"),
        ("pod_events", {"name": "api-5c8d", "namespace": "other"}, "only namespace"),
        ("pod_logs", {"name": "../secrets/db"}, "must be a Kubernetes name"),
        ("pod_status", {"name": "x/../../secrets/db"}, "must be a Kubernetes name"),
        ("pod_logs", {"name": "api-5c8d", "container": "a/b"}, "container must be"),
        ("pod_status", {"name": "missing-pod"}, "not found"),
    ],
)
def test_other_namespaces_secrets_and_bad_names_are_refused(
    kube: Cluster, kube_store: KubernetesStore, crashing_pod: str,
    tool: str, arguments: dict[str, Any], expected: str,
) -> None:  # fmt: skip
    """The tools read Pods of the run's namespace only; a path in a name never reaches a URL."""
    result = _call(kube_store, kube.namespace, tool, **arguments)
    assert result.is_error
    assert expected in result.content
