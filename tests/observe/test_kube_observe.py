"""On a real API server: run Events as core/v1 Events, the CLI reading a cluster, watch resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from functions.cli.main import main
from functions.observe.k8s_events import KubernetesEvents
from functions.observe.observed_store import ObservedStore
from functions.observe.recorder import EventRecorder
from tests.e2e.conftest import SAMPLES, settle
from tests.fixtures.kube import Cluster

REPO = Path(__file__).resolve().parents[2]


def _namespace(kube: Cluster) -> str:
    name = f"obs-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", name)
    return name


def _run(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"agentRef": {"name": "sre"}, "task": "hi"},
    }


def test_a_run_created_between_two_watches_is_seen_at_once(kube: Cluster, kube_store: Any) -> None:
    """A watch resumed from where the last one ended sees what happened in between."""
    namespace = _namespace(kube)
    first = kube_store.watch("AgentRun", namespace, timeout=1, changes=("ADDED",))
    assert list(first) == []
    kube_store.create(_run(namespace, "between"))
    second = kube_store.watch("AgentRun", namespace, since=first.resource_version, timeout=10)
    change = next(iter(second))
    assert (change.type, change.object["metadata"]["name"]) == ("ADDED", "between")


def test_status_changes_become_kubernetes_events(kube: Cluster, kube_store: Any) -> None:
    """kubectl sees the run's Events: reasons, types, and a repeat counted on one Event."""
    namespace = _namespace(kube)
    recorder = EventRecorder(KubernetesEvents(kube_store.api))
    store = ObservedStore(kube_store, recorder)
    store.create(_run(namespace, "evented"))
    run = store.get("AgentRun", namespace, "evented")
    cond = {"type": "Accepted", "status": "True", "reason": "Validated",
            "message": "spec and references are valid",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}  # fmt: skip
    run = store.update_status({**run, "status": {"phase": "Running", "conditions": [cond]}})
    model = {"type": "ModelAvailable", "status": "False", "reason": "RateLimited",
             "message": "429 from the API",
             "lastTransitionTime": "2026-01-01T00:00:01Z"}  # fmt: skip
    for attempt in (1, 2):
        run = store.update_status(
            {**run, "status": {**run["status"], "modelAttempts": attempt,
                               "conditions": [cond, model]}}
        )  # fmt: skip
        recorder.flush()  # the second attempt must find the first Event to count on
    recorder.close()
    listed = json.loads(
        kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    )["items"]  # fmt: skip
    seen = {(e["reason"], e["type"], e["count"]) for e in listed}
    assert seen == {("Validated", "Normal", 1), ("Started", "Normal", 1),
                    ("RetryingModel", "Warning", 2)}  # fmt: skip
    assert {e["involvedObject"]["uid"] for e in listed} == {run["metadata"]["uid"]}
    described = kube.kubectl("describe", "agentrun", "evented", "-n", namespace).stdout
    assert "RetryingModel" in described and "the model call failed (RateLimited" in described


def test_the_cli_reads_the_cluster(
    kube: Cluster, kube_store: Any, tmp_path: Path, capsys: Any
) -> None:
    """apply, get, describe (with Events), logs (the ConfigMap journal) and events on a cluster."""
    from functions.runtime.embedded import Embedded

    namespace = _namespace(kube)
    k = ["--kubeconfig", str(kube.kubeconfig)]
    # The functions run here, on the cluster's store (what `baton serve --store kubernetes` does).
    with Embedded(str(tmp_path / "local.db"), store=kube_store, offline_fallback=True,
                  sweep_interval=0) as runtime:  # fmt: skip
        assert main([*k, "-n", namespace, "apply", "-f", str(SAMPLES / "tools.yaml")]) == 0
        deadline = time.monotonic() + 30
        while (
            kube_store.get("AgentRun", namespace, "tools-demo").get("status", {}).get("phase")
            != "Succeeded"
        ):
            assert time.monotonic() < deadline, "the run did not finish"
            time.sleep(0.1)
        settle(runtime)
        # `baton run` against a cluster applies and follows; the cluster's functions work.
        code = main([*k, "-n", namespace, "run", str(SAMPLES / "hello.yaml"), "--timeout", "60"])
        assert code == 0
        settle(runtime)  # the CLI below reads the run Events from another process
    env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig), "BATON_STORE": "kubernetes"}
    env.pop("BATON_DB", None)

    def baton(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "functions.cli.main", *argv],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    followed = capsys.readouterr().out
    assert "agentrun/hello created" in followed and "hello: Succeeded" in followed
    assert baton("get", "runs", "-n", namespace, "-o", "name").splitlines() == [
        "agentrun.baton.dev/hello",
        "agentrun.baton.dev/tools-demo",
    ]
    every = baton("get", "runs", "-A").splitlines()
    assert every[0].split()[:3] == ["NAMESPACE", "NAME", "PHASE"]
    assert [namespace, "tools-demo", "Succeeded"] in [line.split()[:3] for line in every[1:]]
    described = baton("describe", "run", "tools-demo", "-n", namespace)
    events = described.split("Events:")[1]
    for reason, source in (("Validated", "validate"), ("Started", "validate"),
                           ("Succeeded", "finalize")):  # fmt: skip
        assert any(line.split()[1:2] == [reason] and source in line for line in events.splitlines())
    logs = baton("logs", "tools-demo", "-n", namespace)
    assert "tool current_time:" in logs and "The current UTC time is" in logs
    rows = json.loads(baton("events", "tools-demo", "-n", namespace, "-o", "json"))
    assert rows[0]["type"] == "created"
    assert [r["type"] for r in rows[1:]] == ["Validated", "Started", "Succeeded"]
    assert all(r["time"] for r in rows)


def test_send_journals_a_sessions_input_on_the_cluster(kube: Cluster, kube_store: Any) -> None:
    """baton --kubeconfig send writes the input to the run's journal on the cluster."""
    namespace = _namespace(kube)
    session = {**_run(namespace, "chatty"), "spec": {**_run(namespace, "x")["spec"],
                                                     "mode": "server"}}  # fmt: skip
    kube_store.create(session)
    k = ["--kubeconfig", str(kube.kubeconfig), "-n", namespace]
    assert main([*k, "send", "chatty", "hello from the cli", "--id", "m1"]) == 0
    run = kube_store.get("AgentRun", namespace, "chatty")
    inputs = [entry for key, entry in kube_store.read_journal(run) if key.startswith("input/")]
    assert [entry.get("content") for entry in inputs] == ["hello from the cli"], inputs
    assert (run.get("status") or {}).get("inputs") == 1
