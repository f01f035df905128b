"""Memory of the other shapes' processes: a NATS worker and a gunicorn function, idle and after.

NATS worker: one worker process serving every function (plus the source, a
separate process) on a fresh nats-server and store (bench.deployment). "Idle"
is its VmRSS once it serves, nothing run; "after" is once ``runs`` runs of the
scenario (2 model turns, 1 tool call) went through it, in batches of 250, all
terminal. Read from /proc/<pid>/status; no gc.collect() in the worker, so it is
what the process holds as it runs. Baseline: a bare Python process making the
same model and tool calls in a plain loop (bench.memory's bare child), idle and
after the same number of runs.

gunicorn function: ``validate`` under functions/serve/gunicorn_conf.py (gthread,
one worker) on a SQLite store; "idle" is the worker's VmRSS once it answers
HTTP, "after" is once it accepted ``runs`` fresh AgentRuns (one ADDED event
each, one at a time). Baseline: the bare Flask CloudEvents echo
(tests/bench/http_bench.py) under the same settings, given the same events.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from typing import Any

from bench.harness import Baseline, Figure, Result, run_child
from bench.machine import peak_rss_mb, rss_mb
from bench.scenario import Scenario, scenario

__all__ = ["gunicorn_function", "nats_worker", "run"]

CHUNK = 250


def nats_worker(sc: Scenario, runs: int) -> dict[str, Any]:
    """VmRSS of one all-functions NATS worker process idle and after ``runs`` runs."""
    from bench.deployment import nats_deployment

    with nats_deployment(sc, workers=1) as deployment:
        pid = deployment.worker_pids()[0]
        source = deployment.processes["source"].pid
        idle, source_idle = rss_mb(pid), rss_mb(source)
        names = [f"m-{i}" for i in range(runs)]
        ok = sum(
            deployment.complete(sc, names[start : start + CHUNK]) for start in range(0, runs, CHUNK)
        )
        return {
            "idle_mb": idle,
            "after_mb": rss_mb(pid),
            "peak_mb": peak_rss_mb(pid),
            "source_idle_mb": source_idle,
            "source_after_mb": rss_mb(source),
            "succeeded": ok,
        }


def _events(sc: Scenario, store: Any, runs: int) -> list[tuple[bytes, dict[str, str]]]:
    from events.apiserver import resource_event
    from events.codecs.http import to_binary

    out = []
    for i in range(runs):
        message = to_binary(resource_event("ADDED", store.create(sc.run_named(f"g-{i}"))))
        out.append((message.body, dict(message.headers)))
    return out


def gunicorn_function(sc: Scenario, runs: int) -> dict[str, dict[str, Any]]:
    """Worker VmRSS of validate and of the bare echo under gunicorn, idle and after ``runs``."""
    from bench.served import ECHO_APP, FUNCTION_APP, post_all, served
    from functions.cli.manifests import apply
    from functions.resources.sqlite import SqliteStore

    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="baton-bench-gunicorn-") as tmp:
        store = SqliteStore(f"{tmp}/state.db")
        apply(store, sc.resources())
        requests = _events(sc, store, runs)
        fn_env = {"BATON_FUNCTION": "validate", "BATON_STORE": f"sqlite:///{tmp}/state.db"}
        for side, app, env in (("function", FUNCTION_APP, fn_env), ("bare", ECHO_APP, {})):
            with served(app, env, tmp) as (port, pid):
                idle = rss_mb(pid)
                ok = post_all(port, requests)
                out[side] = {
                    "idle_mb": idle,
                    "after_mb": rss_mb(pid),
                    "peak_mb": peak_rss_mb(pid),
                    "answered_2xx": ok,
                }
        store.close()
    return out


def _pair(
    what: str, after: str, mine: dict[str, Any], bare: dict[str, Any], base: str
) -> list[Figure]:
    return [
        Figure(f"RSS idle ({what})", mine["idle_mb"], "MiB", Baseline(base, bare["idle_mb"])),
        Figure(
            f"RSS after {after} ({what})",
            mine["after_mb"],
            "MiB",
            Baseline(base, bare["after_mb"]),
        ),
    ]


def run(quick: bool = False, *, runs: int = 0) -> Result:
    """Idle and after-runs RSS of a NATS worker and a gunicorn function beside bare processes."""
    runs = runs or (100 if quick else 1000)
    sc = scenario()
    res = Result("process-memory", params={"runs": runs})
    worker = nats_worker(sc, runs)
    bare_loop = run_child("bench.memory", "--child", "bare", "--runs", str(runs))
    served = gunicorn_function(sc, runs)
    res.add(
        *_pair("NATS worker, all functions", f"{runs} runs", worker, bare_loop, "bare Python loop"),
        *_pair(
            "gunicorn validate",
            f"{runs} events",
            served["function"],
            served["bare"],
            "bare Flask echo",
        ),
    )
    res.details = {
        "nats_worker": worker,
        "bare_loop": bare_loop,
        "gunicorn_validate": served["function"],
        "gunicorn_echo": served["bare"],
        "method": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
    }
    return res


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=0)
    args = parser.parse_args()
    json.dump(run(args.quick, runs=args.runs).record(), sys.stdout, indent=2)
