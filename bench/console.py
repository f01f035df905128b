"""Console: time to first byte of the run list and of a run page, beside a static file.

The store holds ``stored`` finished runs (tools.yaml: 2 model turns, 1 tool call, driven
through the real embedded chain, so their journals and event log rows are real) and one
run of ``turns`` model turns (a tool call between each). The console is served alone
(``BATON_FUNCTION=console``) under baton's gunicorn settings; each figure is the time
from sending a GET on a keep-alive loopback connection to the response's status line
and headers, then the body is read. Baseline: the console's own stylesheet, a static
file served by the same server in the same run.
"""

from __future__ import annotations

import copy
import http.client
import time
from typing import Any

from bench.harness import Baseline, Figure, Result, percentile
from bench.scenario import Scenario, scenario
from bench.served import FUNCTION_APP, served
from bench.workload import complete, embedded
from functions.cli.manifests import apply

__all__ = ["run", "ttfb"]

STATIC = "/console/static/console.css"


def _short_scenario() -> Scenario:
    """tools.yaml under its own Model and Agent names, beside the long run's."""
    sc = scenario(2)
    sc.model, sc.agent, sc.run = (copy.deepcopy(x) for x in (sc.model, sc.agent, sc.run))
    sc.model["metadata"]["name"] = "short-model"
    sc.agent["metadata"]["name"] = "short"
    sc.agent["spec"]["modelRef"] = {"name": "short-model"}
    sc.run["spec"]["agentRef"] = {"name": "short"}
    return sc


def ttfb(port: int, path: str, requests: int) -> list[float]:
    """Milliseconds to the first byte of each of ``requests`` GETs of ``path``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        times.append((time.perf_counter() - start) * 1000)
        body = response.read()
        if response.status != 200 or not body:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
    conn.close()
    return times


def measure(stored: int, turns: int, requests: int) -> dict[str, Any]:
    """Fill a store, serve the console on it, time the three pages."""
    long = scenario(turns)
    short = _short_scenario()
    with embedded(long) as (runtime, timeline, _clock):
        complete(runtime, timeline, long, ["long-run"])
        apply(runtime.store, short.resources())
        for start in range(0, stored, 500):
            names = [f"run-{i}" for i in range(start, min(stored, start + 500))]
            complete(runtime, timeline, short, names)
        db = runtime.db_path
        env = {"BATON_FUNCTION": "console", "BATON_STORE": f"sqlite:///{db}"}
        with served(FUNCTION_APP, env, cwd=str(db.rsplit("/", 1)[0])) as (port, _worker):
            ttfb(port, STATIC, 3)  # warm: first imports, first store read
            paths = {
                "static": STATIC,
                "list": "/console/api/runs",
                "page": "/console/api/runs/default/long-run",
            }
            out: dict[str, Any] = {}
            for _ in range(2):  # interleaved rounds: load on a shared machine hits all three
                for key, path in paths.items():
                    out.setdefault(key, []).extend(ttfb(port, path, requests // 2))
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for key, path in paths.items():
                conn.request("GET", path)
                out[f"{key}_bytes"] = len(conn.getresponse().read())
            conn.close()
    return out


def run(quick: bool) -> Result:
    """TTFB p50/p99 of the run list and a run page vs a static file from the same server."""
    stored, turns, requests = (50, 10, 10) if quick else (1000, 100, 200)
    got = measure(stored, turns, requests)
    result = Result("console", params={"stored": stored, "turns": turns, "requests": requests})
    result.details = {k: v for k, v in got.items() if k.endswith("_bytes")}
    for pct in (50, 99):
        static = Baseline(f"static file p{pct}", percentile(got["static"], pct))
        result.add(
            Figure(
                f"run list TTFB p{pct}, {stored:,} runs", percentile(got["list"], pct), "ms", static
            ),
            Figure(
                f"run page TTFB p{pct}, {turns}-step run",
                percentile(got["page"], pct),
                "ms",
                static,
            ),
        )
    return result
