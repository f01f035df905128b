"""/metrics where operators scrape it: a function under gunicorn, `baton serve`, NATS workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from events.apiserver import resource_event
from functions.cli.manifests import apply, load_files
from functions.resources.sqlite import SqliteStore
from tests.e2e.conftest import SAMPLES
from tests.fixtures.http import free_port, post_event, request, serve_function, wait_healthy
from tests.fixtures.otlp import OTLPCollector
from tests.observe.conftest import metric

REPO = Path(__file__).resolve().parents[2]


def _scrape(url: str) -> str:
    reply = request(url)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return reply.body.decode()


def _scrape_when(url: str, ready: Callable[[str], bool], timeout: float = 30) -> str:
    """The exposition once ``ready`` holds for it (or at the deadline, for the assertions).

    A run's finished count moves just after its phase is written, in the process that wrote
    it: a test that saw the phase scrapes until the count is there too.
    """
    deadline = time.monotonic() + timeout
    while True:
        text = _scrape(url)
        if ready(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def _finished(text: str) -> float:
    return metric(
        "baton_runs_finished_total", text, namespace="default", phase="Succeeded",
        reason="Completed",
    )  # fmt: skip


def _wait_succeeded(store: SqliteStore, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while sum(
        (r.get("status") or {}).get("phase") == "Succeeded" for r in store.list("AgentRun")
    ) < count:  # fmt: skip
        assert time.monotonic() < deadline, "the runs did not finish"
        time.sleep(0.05)


def test_a_function_and_baton_serve_expose_metrics(tmp_path: Path) -> None:
    """One function counts its own transitions; the embedded server counts whole runs."""
    db = tmp_path / "state.db"
    store = SqliteStore(str(db))
    apply(store, load_files([str(SAMPLES / "tools.yaml")]))
    run = store.get("AgentRun", "default", "tools-demo")
    env = {"BATON_OFFLINE_MODELS": "1", "ANTHROPIC_API_KEY": ""}
    with serve_function("validate", store=f"sqlite:///{db}", log_dir=tmp_path, env=env) as fn:
        assert post_event(fn.url, resource_event("ADDED", run)).status in (200, 202)
        text = _scrape(fn.url + "metrics")
    assert metric("baton_transitions_total", text, function="validate", outcome="ok") == 1
    assert metric("baton_transition_duration_seconds_count", text, function="validate") == 1
    assert metric("baton_runs_started_total", text, namespace="default") == 1
    with serve_function(None, store=f"sqlite:///{db}", log_dir=tmp_path, env=env) as served:
        body = json.dumps({"agent": "sre", "task": "What time is it?"}).encode()
        reply = request(served.url, "POST", body, {
            "ce-specversion": "1.0", "ce-type": "dev.baton.run.requested", "ce-source": "/t",
            "ce-id": "m-1", "content-type": "application/json"})  # fmt: skip
        assert reply.status == 202
        _wait_succeeded(store, 2)  # the new run, and tools-demo: the server takes up existing runs
        text = _scrape_when(served.url + "metrics", lambda t: _finished(t) >= 2)
    assert _finished(text) == 2
    assert metric("baton_transitions_total", text, function="route", outcome="none") == 1
    assert metric("baton_tool_calls_total", text, tool="current_time", outcome="ok") == 2
    assert metric("baton_model_tokens_total", text, model="claude-sonnet-4-5", kind="input") == 1424
    assert "process_resident_memory_bytes" in text


def test_several_gunicorn_workers_count_as_one_service(tmp_path: Path) -> None:
    """Two workers sharing PROMETHEUS_MULTIPROC_DIR: the counts of a worker that died stay in
    every scrape (whichever worker answers it), and its live gauges go with it."""
    db = tmp_path / "state.db"
    store = SqliteStore(str(db))
    apply(store, load_files([str(SAMPLES / "tools.yaml")]))
    template = store.get("AgentRun", "default", "tools-demo")
    runs = []
    for index in range(12):
        doc = {k: template[k] for k in ("apiVersion", "kind", "spec")}
        runs.append(store.create({**doc, "metadata": {"name": f"multi-{index}"}}))
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {
        "BATON_OFFLINE_MODELS": "1",
        "ANTHROPIC_API_KEY": "",
        "BATON_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
    }
    with serve_function("validate", store=f"sqlite:///{db}", log_dir=tmp_path, env=env) as fn:
        for run in runs:
            assert post_event(fn.url, resource_event("ADDED", run)).status in (200, 202)
        counted = {int(p.stem.rsplit("_", 1)[-1]) for p in shared.glob("counter_*.db")}
        assert counted, "no worker wrote its counters to PROMETHEUS_MULTIPROC_DIR"
        for pid in counted:  # every worker that counted dies; gunicorn starts new ones
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        live = [shared / f"gauge_livesum_{pid}.db" for pid in counted]
        assert any(path.exists() for path in live)  # the in-flight gauge, written per worker
        while any(path.exists() for path in live):
            assert time.monotonic() < deadline, "a dead worker's live gauges were kept"
            time.sleep(0.05)
        wait_healthy(fn.url, fn.process, fn.log)
        scrapes = [_scrape(fn.url + "metrics") for _ in range(4)]
    for text in scrapes:
        assert metric("baton_transitions_total", text, function="validate", outcome="ok") == 12
        assert metric("baton_runs_started_total", text, namespace="default") == 12


def test_nats_workers_expose_metrics_and_export_traces(nats_url: str, tmp_path: Path) -> None:
    """`baton worker|source --metrics-port` serve /metrics; the workers' spans are one trace."""
    db = str(tmp_path / "state.db")
    store = SqliteStore(db)
    collector = OTLPCollector().__enter__()
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    ports = {"worker": free_port(), "source": free_port()}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "functions.cli.main",
                "--db",
                db,
                role,
                "--nats",
                nats_url,
                "--metrics-port",
                str(ports[role]),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for role in ("worker", "source")
    ]
    try:
        for role, port in ports.items():
            deadline = time.monotonic() + 30
            while True:
                try:
                    _scrape(f"http://127.0.0.1:{port}/metrics")
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"{role} serves no metrics"
                    time.sleep(0.1)
        time.sleep(1.0)  # the workers' consumers are bound once the process serves
        apply(store, load_files([str(SAMPLES / "tools.yaml")]))
        _wait_succeeded(store, 1)
        text = _scrape_when(f"http://127.0.0.1:{ports['worker']}/metrics",
                            lambda t: _finished(t) >= 1)  # fmt: skip
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=15)
        spans = collector.wait_for(lambda s: any(x.name == "finalize" for x in s), timeout=10)
        collector.__exit__()
    run = store.get("AgentRun", "default", "tools-demo")
    mine = [s for s in spans if s.trace_id == run["status"]["traceID"]]
    assert {"validate", "prepare_context", "call_llm", "call_tool", "finalize"} <= {
        s.name for s in mine
    }
    assert any(s.attributes.get("gen_ai.operation.name") == "chat" for s in mine)
    assert metric("baton_transitions_total", text, function="call_llm", outcome="ok") == 2
    assert _finished(text) == 1
    assert metric("baton_in_flight", text, kind="model") == 0
