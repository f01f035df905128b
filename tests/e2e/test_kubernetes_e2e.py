"""End to end on Kubernetes: kubectl apply of a sample -> ApiServerSource-shaped events ->
the functions under real gunicorn over HTTP, routed by the Trigger manifests -> Succeeded.

The cluster is envtest's kube-apiserver (no Knative controllers run there), so the test
stands in for the two Knative parts: a watch on AgentRuns turns changes into the events an
ApiServerSource in Resource mode sends, and ``tests.fixtures.broker.TestBroker`` routes by
the Triggers in ``knative/`` (an event no Trigger takes, a delivery that fails, fails here).
Every function runs as its Knative Service would: ``BATON_FUNCTION`` and ``K_SINK`` from the
Service manifest (``K_SINK`` pointed at the test broker), ``BATON_STORE=kubernetes``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from events.apiserver import resource_event
from events.errors import TransientError
from functions import chain
from functions.ports import Resource
from functions.run.status import is_terminal
from functions.serve.settings import function_name
from tests.fixtures.broker import TestBroker
from tests.fixtures.http import serve_function
from tests.fixtures.knative import knative_objects, service_functions, triggers
from tests.fixtures.kube import REPO, Cluster, kube, kube_crds

__all__ = ["kube", "kube_crds"]  # the session's API server and baton's CRDs (fixtures)

SAMPLE = REPO / "config" / "samples" / "tools.yaml"
RUN = "tools-demo"
NAMESPACE = "default"
# Emitted for observers (the event log, a user's own Trigger): no baton function takes it.
RECORD_ONLY = frozenset(
    e for e in ("dev.baton.tool.completed",) if not any(r.filter["type"] == e for r in chain.ROUTES)
)


def sink_functions() -> set[str]:
    """Functions whose Knative Service sets K_SINK (follow-ups go to the broker, not replies)."""
    found = set()
    for obj in knative_objects():
        if obj["kind"] != "Service" or not obj["apiVersion"].startswith("serving.knative.dev/"):
            continue
        (container,) = obj["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        if env.get("K_SINK"):
            found.add(str(env["BATON_FUNCTION"]))
    return found


def wait_terminal(store: Any, name: str, timeout: float = 120) -> Resource:
    """The run once it is Succeeded, Failed or Cancelled."""
    deadline = time.monotonic() + timeout
    run = store.get("AgentRun", NAMESPACE, name)
    while time.monotonic() < deadline and not is_terminal(run):
        time.sleep(0.1)
        run = store.get("AgentRun", NAMESPACE, name)
    return run


def embedded_reference(tmp: Path) -> tuple[Resource, list[str], list[str]]:
    """The same sample in the embedded shape: its run, journal keys and chain event types."""
    from functions.cli.manifests import apply, load_files
    from functions.runtime.embedded import Embedded
    from functions.runtime.eventlog import EventLog

    db = str(tmp / "embedded.db")
    with Embedded(db, offline_fallback=True, sweep_interval=0) as runtime:
        apply(runtime.store, load_files([str(SAMPLE)]), rerun=True)
        run = wait_terminal(runtime.store, RUN)
        journal = [key for key, _ in runtime.store.read_journal(run)]
    types_ = [e.type for e in EventLog(db).read(f"{NAMESPACE}/{RUN}")]
    return run, journal, [t for t in types_ if t.startswith("dev.baton.")]


class ApiServerSource:
    """Watches AgentRuns and publishes each change as Resource-mode ApiServerSource events."""

    def __init__(self, store: Any, broker: TestBroker, server: str) -> None:
        self._changes = store.watch("AgentRun", NAMESPACE)  # from now: before anything is applied
        self._broker = broker
        self._server = server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            for change in self._changes:
                if self._stop.is_set():
                    return
                event = resource_event(change.type, change.object, source=self._server)
                self._broker.publish(event)
        except TransientError:
            if not self._stop.is_set():
                raise  # the API server went away before the test was done with it

    def __enter__(self) -> ApiServerSource:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


@pytest.fixture
def deployed(kube: Cluster, kube_crds: list[str], tmp_path: Path) -> Iterator[TestBroker]:
    """Every implemented function under gunicorn on the cluster, behind the test broker."""
    services = service_functions()
    with_sink = sink_functions()
    endpoints: dict[str, str] = {}
    broker = TestBroker(triggers(), endpoints, services)
    env = {"BATON_OFFLINE_MODELS": "1", "ANTHROPIC_API_KEY": "", "BATON_THREADS": "8"}
    with ExitStack() as stack:
        stack.enter_context(broker)
        for function in sorted(set(services.values())):
            if function_name(function) not in chain.FUNCTIONS:
                continue  # a Service whose function is not written yet (deliver, webhook)
            served = stack.enter_context(
                serve_function(
                    function,
                    store=f"kubernetes://{kube.kubeconfig}",
                    log_dir=tmp_path,
                    sink=broker.ingress_url if function in with_sink else None,
                    env=env,
                )
            )
            broker.endpoints[function] = served.url
        yield broker


def test_sample_run_succeeds_on_kubernetes_over_http(
    kube: Cluster, deployed: TestBroker, tmp_path: Path
) -> None:
    """kubectl apply of tools.yaml runs through the HTTP functions to Succeeded, as embedded."""
    from functions.resources.kubernetes import kubernetes_store

    broker = deployed
    store = kubernetes_store(kube.kubeconfig)
    kube.kubectl("delete", "-n", NAMESPACE, "-f", str(SAMPLE), "--ignore-not-found")
    with ApiServerSource(store, broker, kube.server):
        kube.kubectl("apply", "-n", NAMESPACE, "-f", str(SAMPLE))
        run = wait_terminal(store, RUN)
        assert broker.wait_idle(), "the broker still delivers the run's events"
    status = run.get("status", {})
    assert status.get("phase") == "Succeeded", (status, broker.failures())

    reference, reference_journal, reference_types = embedded_reference(tmp_path)
    expected = reference["status"]
    for field in ("step", "toolCalls", "tokenUsage", "costEstimate"):
        assert status.get(field) == expected.get(field), field
    assert status["result"].startswith("The current UTC time is ")
    assert [key for key, _ in store.read_journal(run)] == reference_journal

    chain_events = broker.chain_events()
    assert Counter(r.event.get_type() for r in chain_events) == Counter(reference_types)
    unrouted = [r.event.get_type() for r in chain_events if not r.subscribers]
    assert set(unrouted) <= RECORD_ONLY, f"emitted with no Trigger to take them: {unrouted}"
    not_deployed = {d.function for r in broker.log for d in r.deliveries if d.status == 0}
    assert all(function_name(f) not in chain.FUNCTIONS for f in not_deployed)
    failures = [f for f in broker.failures() if f[2] != 0]
    assert failures == []
    assert broker.rejected() == []
    # Each function wrote the run's Events as core/v1 Events: kubectl describe tells the story.
    deadline = time.monotonic() + 30
    while "Succeeded" not in (described := _events_of(kube, RUN)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for reason, source in (("Validated", "validate"), ("Started", "validate"),
                           ("Succeeded", "finalize")):  # fmt: skip
        assert any(line.split()[1:2] == [reason] and source in line
                   for line in described.splitlines()), described  # fmt: skip


def _events_of(kube: Cluster, name: str) -> str:
    """The Events section of ``kubectl describe agentrun``."""
    out = kube.kubectl("describe", "agentrun", name, "-n", NAMESPACE).stdout
    return out.split("Events:", 1)[-1]
