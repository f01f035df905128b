"""Benchmark: SqliteStore writes/s and simulated runs/s; schema µs per validation.

Run: .venv/bin/python tests/resources/bench_store.py [runs] [threads] [processes]
With processes > 1, that many processes share one file and each reports its
status-write latency (the NATS worker shape). Not collected by pytest
(performance belongs to benchmarks, not to tests).
"""

from __future__ import annotations

import copy
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from functions.resources.schema import validate_and_default
from functions.resources.sqlite import SqliteStore

STATUS_WRITES = 8
JOURNAL_APPENDS = 5
READS = 10


def _run_object(name: str) -> dict:
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": name, "namespace": "default", "labels": {"baton.dev/agent": "a"}},
        "spec": {"agentRef": {"name": "a"}, "task": "add 2 and 3", "sessionKey": "s"},
    }


def _status(step: int) -> dict:
    return {
        "phase": "Running",
        "step": step,
        "stage": "Model",
        "startedAt": "2026-01-01T00:00:00Z",
        "lastEventTime": "2026-01-01T00:00:01Z",
        "tokenUsage": {"input": 100 * step, "output": 20 * step, "total": 120 * step},
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "Running",
                "message": "step in progress",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "pendingToolCalls": ["toolu_1"],
        "toolCalls": step,
        "modelAttempts": step,
        "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
    }


def one_run(store: SqliteStore, name: str) -> int:
    """Create a run and drive it like the chain does; returns the writes made."""
    run = store.create(_run_object(name))
    for step in range(STATUS_WRITES):
        for _ in range(READS // STATUS_WRITES + 1):
            run = store.get("AgentRun", "default", name)
        run["status"] = _status(step + 1)
        run = store.update_status(run)
        if step < JOURNAL_APPENDS:
            store.append_journal(run, f"step/{step}", {"role": "assistant", "content": "x" * 200})
    store.read_journal(run)
    return 1 + STATUS_WRITES + JOURNAL_APPENDS


def bench_schema(n: int = 20_000) -> float:
    """µs per validate_and_default of a typical AgentRun (spec write, then status write)."""
    objs = [dict(_run_object(f"r{i}"), status=_status(3)) for i in range(n)]
    objs = [copy.deepcopy(o) for o in objs]
    start = time.perf_counter()
    for obj in objs:
        validate_and_default(obj)
        validate_and_default(obj, subresource="status")
    return (time.perf_counter() - start) / n / 2 * 1e6


def write_latency(path: str, tag: str, runs: int) -> None:
    """Print p50/p99 of one status write, this process among others on ``path``."""
    store = SqliteStore(path)
    latencies = []
    for i in range(runs):
        run = store.create(_run_object(f"{tag}-{i}"))
        run["status"] = _status(1)
        start = time.perf_counter()
        store.update_status(run)
        latencies.append(time.perf_counter() - start)
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(f"  {tag}: status write p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms")
    store.close()


def main() -> None:
    if sys.argv[1:2] == ["--latency"]:
        write_latency(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    processes = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if processes > 1:
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "shared.db")
            SqliteStore(path).close()
            print(f"{processes} processes on one file:")
            children = [
                subprocess.Popen([sys.executable, __file__, "--latency", path, f"p{k}", str(runs)])
                for k in range(processes)
            ]
            for child in children:
                child.wait()
        return
    print(f"schema: {bench_schema():.1f} µs per validation (AgentRun)")
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        per_thread = runs // threads
        writes = [0] * threads

        def worker(index: int) -> None:
            for i in range(per_thread):
                writes[index] += one_run(store, f"run-{index}-{i}")

        pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        start = time.perf_counter()
        cpu = time.process_time()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        total = per_thread * threads
        print(
            f"store: {total} runs in {elapsed:.2f}s on {threads} thread(s): "
            f"{total / elapsed:.0f} runs/s, {sum(writes) / elapsed:.0f} writes/s "
            f"({STATUS_WRITES} status writes + {JOURNAL_APPENDS} journal appends + 1 create, "
            f"~{READS} gets per run); CPU {cpu / total * 1e3:.2f} ms per run, "
            f"{sum(writes) / cpu:.0f} writes per CPU-second"
        )
        store.close()


if __name__ == "__main__":
    main()
