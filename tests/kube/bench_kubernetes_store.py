"""Benchmark: KubernetesStore against envtest's kube-apiserver, beside raw HTTP writes.

Run: .venv/bin/python tests/kube/bench_kubernetes_store.py [runs] [threads]
Each simulated run does what a 2-turn, 1-tool run does to the store (the shape of
tests/resources/bench_store.py): create, 8 status writes, 5 journal appends, 10 reads.
The floor is the same status PUT sent with bare urllib3 on the client's own connection
pool, so the difference is the store's overhead. Not collected by pytest.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from functions.resources.kubernetes import KubernetesStore, kubernetes_store
from tests.fixtures.envtest import find_assets, start_envtest
from tests.fixtures.kube import REPO, Cluster, install_crds

STATUS_WRITES, JOURNAL_APPENDS, READS = 8, 5, 10


def _run(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"agentRef": {"name": "a"}, "task": "add 2 and 3"},
    }


def one_run(store: KubernetesStore, name: str, timings: dict[str, list[float]]) -> None:
    """The store traffic of one run, each call's latency appended under its operation."""

    def timed(op: str, call: Any, *args: Any) -> Any:
        started = time.perf_counter()
        result = call(*args)
        timings.setdefault(op, []).append(time.perf_counter() - started)
        return result

    run = timed("create", store.create, _run(name))
    for step in range(STATUS_WRITES):
        status = {**run, "status": {"phase": "Running", "step": step}}
        run = timed("update_status", store.update_status, status)
        if step < JOURNAL_APPENDS:
            entry = {"role": "assistant", "text": "x" * 400}
            timed("append_journal", store.append_journal, run, f"step-{step}", entry)
    for _ in range(READS // 2):
        timed("get", store.get, "AgentRun", "default", name)
        timed("read_journal", store.read_journal, run)


def floor(store: KubernetesStore, count: int) -> list[float]:
    """Latencies of bare status PUTs (no store, no validation) on the same pool."""
    run = store.create(_run("floor"))
    client = store.api.client
    path = "/apis/baton.dev/v1alpha1/namespaces/default/agentruns/floor/status"
    url = f"{client.configuration.host}{path}"
    headers = {"Content-Type": "application/json", **_auth(client)}
    pool = client.rest_client.pool_manager
    latencies = []
    for step in range(count):
        run["status"] = {"phase": "Running", "step": step}
        started = time.perf_counter()
        response = pool.request("PUT", url, body=json.dumps(run), headers=headers)
        latencies.append(time.perf_counter() - started)
        run = json.loads(response.data)
    return latencies


def _auth(client: Any) -> dict[str, str]:
    token = client.configuration.api_key.get("authorization") or client.configuration.api_key.get(
        "BearerToken", ""
    )
    return {"Authorization": token} if token else {}


def main(runs: int = 200, threads: int = 4) -> None:
    """Print runs/s, status writes/s and p50/p99 beside the bare floor."""
    assets = find_assets()
    if assets is None:
        sys.exit("no envtest assets: set KUBEBUILDER_ASSETS or build them with hack/envtest-assets")
    with start_envtest(assets, Path(tempfile.mkdtemp())) as server:
        install_crds(Cluster(server.kubeconfig, server.url, "default", True), REPO / "config/crd")
        store = kubernetes_store(server.kubeconfig)
        bare = floor(store, 300)
        timings: dict[str, list[float]] = {}
        names = iter(range(runs))
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    n = next(names, None)
                if n is None:
                    return
                one_run(store, f"run-{n}", timings)

        started = time.perf_counter()
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - started
        writes = len(timings["update_status"])
        print(f"runs: {runs} on {threads} threads in {elapsed:.1f}s = {runs / elapsed:.1f} runs/s")
        print(f"status writes: {writes / elapsed:.0f}/s inside the mix")
        for op, values in sorted(timings.items()):
            ordered = sorted(values)
            p99 = ordered[int(len(ordered) * 0.99)]
            print(
                f"  {op:15} p50 {statistics.median(ordered) * 1e3:7.2f} ms  p99 {p99 * 1e3:7.2f} ms"
            )
        print(f"  {'bare PUT floor':15} p50 {statistics.median(bare) * 1e3:7.2f} ms  (1 thread)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
