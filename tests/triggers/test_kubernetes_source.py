"""A kubernetes source on a real kube-apiserver: a crash-looping Pod starts one run per window.

No kubelet: the test writes the Pod's status as a kubelet would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.cli.manifests import apply, load_files
from functions.kube.api import MERGE_PATCH, KubeAPI, connect
from functions.ports import Deps
from functions.resources.sqlite import SqliteStore
from functions.runtime.embedded import Embedded
from functions.runtime.triggers import TriggerFeeds
from functions.trigger.fire import flush
from tests.fakes.clock import FakeClock
from tests.fixtures.kube import REPO, Cluster, kube
from tests.triggers.conftest import runs_of, trigger, wait_for

__all__ = ["kube"]

CRASHLOOP = (
    "data.status.containerStatuses.exists(c, has(c.state.waiting) && "
    'c.state.waiting.reason == "CrashLoopBackOff")'
)
TASK = (
    "Pod {{ data.metadata.name }} in {{ data.metadata.namespace }} is in CrashLoopBackOff "
    "({{ data.status.containerStatuses[0].restartCount }} restarts). Find out why."
)


@pytest.fixture
def api(kube: Cluster) -> KubeAPI:
    """A client of the session's API server."""
    return KubeAPI(connect(kube.kubeconfig))


@pytest.fixture
def feeds(deps: Deps, kube: Cluster) -> Iterator[TriggerFeeds]:
    """The trigger feeds of an embedded process, watching the test cluster."""
    with TriggerFeeds(deps, kubeconfig=str(kube.kubeconfig), poll=0.2) as running:
        yield running


def _pod(kube: Cluster, name: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": kube.namespace, "labels": {"app": "shop"}},
        "spec": {"containers": [{"name": "web", "image": "shop:1.2"}]},
    }
    kube.kubectl("apply", "-f", "-", input=json.dumps(pod))


def _crash(api: KubeAPI, namespace: str, name: str, restarts: int) -> None:
    """Write the status a kubelet writes for a container in CrashLoopBackOff."""
    status: dict[str, Any] = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "web",
                "image": "shop:1.2",
                "imageID": "",
                "ready": False,
                "restartCount": restarts,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                "lastState": {},
            }
        ],
    }
    path = f"/api/v1/namespaces/{namespace}/pods/{name}/status"
    api.request("PATCH", path, body={"status": status}, content_type=MERGE_PATCH)


def test_a_crash_looping_pod_starts_one_run_per_dedupe_window(
    store: SqliteStore, deps: Deps, clock: FakeClock, kube: Cluster, api: KubeAPI,
    feeds: TriggerFeeds,
) -> None:  # fmt: skip
    """One run with the Pod's name; 20 more updates inside 10 minutes none; after, one more."""
    pods = {
        "apiVersion": "v1",
        "kind": "Pod",
        "namespaces": [kube.namespace],
        "labelSelector": {"matchLabels": {"app": "shop"}},
    }
    dedupe = {"key": "{{ data.metadata.namespace }}/{{ data.metadata.name }}", "window": "10m"}
    store.create(trigger("crashloop", {"kubernetes": pods}, TASK, when=CRASHLOOP, dedupe=dedupe))
    feeds.poll_once()

    def watching() -> Any:
        return (store.get("AgentTrigger", "default", "crashloop").get("status") or {}).get("watch")

    wait_for(watching, what="the watch to start")
    _pod(kube, "shop-7d9f")
    _crash(api, kube.namespace, "shop-7d9f", 1)
    [run] = wait_for(lambda: runs_of(store, "crashloop"), what="the first run")
    assert "Pod shop-7d9f in " + kube.namespace in run["spec"]["task"]
    assert "1 restarts" in run["spec"]["task"]

    for restarts in range(2, 22):
        _crash(api, kube.namespace, "shop-7d9f", restarts)

    def dropped() -> int:
        flush(deps, ("default", "crashloop"))
        status = store.get("AgentTrigger", "default", "crashloop")["status"]
        return int((status.get("eventsDropped") or {}).get("deduplicated", 0)) >= 20

    wait_for(dropped, what="20 deduplicated events")
    time.sleep(1.5)  # anything still in flight lands before the clock moves (and is counted)
    flush(deps, ("default", "crashloop"))
    status = store.get("AgentTrigger", "default", "crashloop")["status"]
    assert status["eventsDropped"]["deduplicated"] == 20
    assert len(runs_of(store, "crashloop")) == 1

    clock.advance(601)
    _crash(api, kube.namespace, "shop-7d9f", 22)
    wait_for(lambda: len(runs_of(store, "crashloop")) == 2, what="the run after the window")
    assert "22 restarts" in runs_of(store, "crashloop")[-1]["spec"]["task"]
    status = store.get("AgentTrigger", "default", "crashloop")["status"]
    assert status["runsStarted"] == 2
    assert status["eventsDropped"]["deduplicated"] == 20


def test_the_crashloop_sample_investigates_the_pod_end_to_end(
    tmp_path: Path, kube: Cluster, api: KubeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Embedded baton with config/samples/crashloop.yaml: the Pod crashes, the SRE agent runs,
    reads the Pod and its Events with the built-ins, and Succeeds with what it found."""
    monkeypatch.setenv("BATON_TRIGGER_KUBECONFIG", str(kube.kubeconfig))  # the tools' cluster
    docs = load_files([str(REPO / "config" / "samples" / "crashloop.yaml")])
    for doc in docs:
        doc["metadata"]["namespace"] = kube.namespace
    db = str(tmp_path / "state.db")
    with Embedded(db, offline_fallback=True, trigger_kubeconfig=str(kube.kubeconfig)) as baton:
        apply(baton.store, docs)
        baton.triggers.poll_once()

        def watching() -> Any:
            trig = baton.store.get("AgentTrigger", kube.namespace, "crashloop")
            return (trig.get("status") or {}).get("watch")

        wait_for(watching, what="the watch to start")
        _pod(kube, "shop-7d9f")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "shop-7d9f.backoff", "namespace": kube.namespace},
            "involvedObject": {"kind": "Pod", "name": "shop-7d9f", "namespace": kube.namespace},
            "type": "Warning",
            "reason": "BackOff",
            "message": "Back-off restarting failed container web",
            "count": 3,
        }
        kube.kubectl("apply", "-f", "-", input=json.dumps(event))
        _crash(api, kube.namespace, "shop-7d9f", 3)

        def finished() -> Any:
            runs = baton.store.list("AgentRun", kube.namespace, {"baton.dev/trigger": "crashloop"})
            done = [r for r in runs if (r.get("status") or {}).get("phase") == "Succeeded"]
            return done

        [run] = wait_for(finished, timeout=30, what="the SRE run to succeed")
    assert "Pod shop-7d9f in namespace" in run["spec"]["task"]
    assert run["metadata"]["labels"]["pod"] == "shop-7d9f"
    assert "Back-off restarting failed container web" in run["status"]["result"]


def test_the_watch_resumes_where_it_stopped_after_a_restart(
    store: SqliteStore, deps: Deps, kube: Cluster, api: KubeAPI
) -> None:
    """A Pod that starts crash-looping while baton is down starts its run when baton is back:
    the watch resumes from the resourceVersion kept on the trigger, not from 'now'."""
    pods = {"apiVersion": "v1", "kind": "Pod", "namespaces": [kube.namespace]}
    store.create(trigger("resume", {"kubernetes": pods}, TASK, when=CRASHLOOP))
    _pod(kube, "cart-1")
    with TriggerFeeds(deps, kubeconfig=str(kube.kubeconfig), poll=0.2) as feeds:
        feeds.poll_once()

        def checkpointed() -> Any:
            status = store.get("AgentTrigger", "default", "resume").get("status") or {}
            return (status.get("watch") or {}).get("resourceVersion")

        wait_for(checkpointed, what="a checkpoint")
    _crash(api, kube.namespace, "cart-1", 1)  # nobody watching
    assert runs_of(store, "resume") == []
    with TriggerFeeds(deps, kubeconfig=str(kube.kubeconfig), poll=0.2):
        [run] = wait_for(lambda: runs_of(store, "resume"), what="the missed change's run")
    assert "Pod cart-1 in " in run["spec"]["task"]
