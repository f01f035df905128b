"""Figures from the other shapes' micro-benchmarks, each beside the floor it measures.

The NATS, HTTP and Anthropic-adapter benchmarks live beside their code's tests
(``tests/bench/*.py``) and return plain dicts; this module calls them and
turns their numbers into figures. A benchmark whose module or entry point is
missing is reported "not available" with the reason, never estimated.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from bench.harness import Baseline, Figure, Result

__all__ = ["EXTERNAL", "NotAvailable", "entry_point", "run_external"]


class NotAvailable(Exception):
    """The benchmark's code is not there (yet), or what it needs is missing."""


def entry_point(module: str, function: str) -> Callable[..., Any]:
    """``module.function``, or NotAvailable saying which is missing."""
    path = module.replace(".", "/") + ".py"
    if importlib.util.find_spec(module.rsplit(".", 1)[0]) is None:
        raise NotAvailable(f"{path} not found")
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        raise NotAvailable(f"{path} not found")
    mod = importlib.import_module(module)
    fn = getattr(mod, function, None)
    if not callable(fn):
        raise NotAvailable(f"{path} has no {function}()")
    return fn  # type: ignore[no-any-return]


def _nats(quick: bool) -> Result:
    bench_nats = entry_point("tests.bench.nats_bench", "bench_nats")
    try:
        from tests.fixtures.nats import running_nats_server  # noqa: F401
    except ImportError as exc:
        raise NotAvailable(f"nats-server fixture: {exc}") from None
    n = 200 if quick else 2000
    raw = bench_nats(None, n)
    res = Result("nats", params={"n": n, "in_flight": 1, "storage": "memory"})
    floor, bus = raw["raw"], raw["bus"]
    base = "raw JetStream publish->fetch"
    res.add(
        Figure(
            "per-transition p50",
            bus["transition"]["p50_ms"],
            "ms",
            Baseline(f"{base} p50", floor["p50_ms"]),
            target="<= 2",
        ),
        Figure(
            "per-transition p99",
            bus["transition"]["p99_ms"],
            "ms",
            Baseline(f"{base} p99", floor["p99_ms"]),
            target="<= 10",
        ),
        Figure(
            "publish -> handler p50",
            bus["hop1"]["p50_ms"],
            "ms",
            Baseline(f"{base} p50", floor["p50_ms"]),
        ),
    )
    res.details = raw
    return res


def _http(quick: bool) -> Result:
    bench_http = entry_point("tests.bench.http_bench", "bench_http")
    raw = bench_http(quick=quick, starts=2) if quick else bench_http()
    res = Result("http", params={k: v for k, v in raw.items() if not isinstance(v, dict)})
    fn, bare = raw["function"], raw["bare"]
    res.add(
        Figure(
            "function req/s", fn["rps"], "req/s", Baseline("bare Flask echo req/s", bare["rps"])
        ),
        Figure(
            "function latency p50",
            fn["p50_ms"],
            "ms",
            Baseline("bare Flask echo p50", bare["p50_ms"]),
            target="<= 3",
        ),
        Figure(
            "function latency p99",
            fn["p99_ms"],
            "ms",
            Baseline("bare Flask echo p99", bare["p99_ms"]),
        ),
    )
    if "cold_start_ms" in fn and "cold_start_ms" in bare:
        res.add(
            Figure(
                "function exec -> first event",
                fn["cold_start_ms"],
                "ms",
                Baseline("bare Flask echo", bare["cold_start_ms"]),
                target="<= 300",
            )
        )
    res.details = raw
    return res


def _model(quick: bool) -> Result:
    overhead = entry_point("tests.bench.model_bench", "bench_adapter_overhead")
    imports = entry_point("tests.bench.model_bench", "bench_import_cost")
    n = 100 if quick else 500
    # Fresh interpreters importing the SDK take seconds each: only the full run pays for them.
    raw = {"adapter": overhead(n), "import": {} if quick else imports(5)}
    res = Result("anthropic-adapter", params={"n": n})
    a = raw["adapter"]
    res.add(
        Figure(
            "adapter call p50",
            a["adapter"]["p50_ms"],
            "ms",
            Baseline("raw HTTP POST p50", a["raw"]["p50_ms"]),
        ),
        Figure(
            "adapter call p99",
            a["adapter"]["p99_ms"],
            "ms",
            Baseline("raw HTTP POST p99", a["raw"]["p99_ms"]),
        ),
        Figure(
            "adapter call p50 (stream)",
            a["adapter_stream"]["p50_ms"],
            "ms",
            Baseline("raw HTTP POST p50", a["raw"]["p50_ms"]),
        ),
    )
    if raw["import"]:
        imp = raw["import"]
        res.add(
            Figure(
                "first call, cold process",
                imp["first_call_cold_ms"],
                "ms",
                Baseline("import anthropic", imp["import_sdk_ms"]),
            )
        )
    res.details = raw
    return res


def _openai(quick: bool) -> Result:
    bench = entry_point("tests.bench.openai_bench", "bench_openai_adapter")
    n = 100 if quick else 500
    raw = bench(n)
    res = Result("openai-adapter", params={"n": n})
    for label, key, pct in (
        ("adapter call p50", "adapter", "p50_ms"),
        ("adapter call p99", "adapter", "p99_ms"),
        ("adapter call p50 (stream)", "adapter_stream", "p50_ms"),
    ):
        raw_label = f"raw HTTP POST {pct.split('_')[0]}"
        res.add(Figure(label, raw[key][pct], "ms", Baseline(raw_label, raw["raw"][pct])))
    res.details = raw
    return res


def _budget(quick: bool) -> Result:
    bench = entry_point("tests.bench.budget_bench", "bench_budget_overhead")
    n = 100 if quick else 500
    raw = bench(n)
    res = Result("budget", params={"n": n})
    for pct in ("p50_ms", "p99_ms"):
        label = pct.split("_")[0]
        res.add(
            Figure(
                f"model call with budget {label}",
                raw["on"][pct],
                "ms",
                Baseline(f"budget off {label}", raw["off"][pct]),
            )
        )
    res.details = raw
    return res


def _webhook(quick: bool) -> Result:
    bench_webhook = entry_point("tests.bench.webhook_bench", "bench_webhook")
    raw = bench_webhook(quick)
    res = Result("webhook", params={"clients": 4})
    bare = raw["bare"]
    for shape, label in (("webhook_sink", "to K_SINK"), ("webhook_embedded", "embedded")):
        hook = raw[shape]
        res.add(
            Figure(
                f"Slack ack p50 ({label})",
                hook["p50_ms"],
                "ms",
                Baseline("bare Flask echo p50", bare["p50_ms"]),
            ),
            Figure(
                f"Slack ack p99 ({label})",
                hook["p99_ms"],
                "ms",
                Baseline("bare Flask echo p99", bare["p99_ms"]),
                target="<= 50",
            ),
        )
    res.details = raw
    return res


def _triggers(quick: bool) -> Result:
    bench = entry_point("tests.bench.trigger_bench", "bench_triggers")
    raw = bench(quick)
    res = Result("triggers", params={"n": raw["n"], "events": raw["events"]})
    ce, hop = raw["cloudEvent"]["trigger"], raw["bus_hop"]
    sched, nats_, kube = raw["schedule"], raw["nats"], raw["kubernetes"]
    res.add(
        Figure("cloudEvent: event -> run started p50", ce["p50_ms"], "ms",
               Baseline("bare bus publish -> handler p50", hop["p50_ms"])),
        Figure("cloudEvent: event -> run started p99", ce["p99_ms"], "ms",
               Baseline("bare bus publish -> handler p99", hop["p99_ms"])),
        Figure("schedule: due fire -> run started p50", sched["fire"]["p50_ms"], "ms",
               Baseline("timer pass, nothing due p50", sched["idle_pass"]["p50_ms"])),
        Figure("nats: publish -> run started p50", nats_["trigger"]["p50_ms"], "ms",
               Baseline("raw JetStream publish->fetch p50", nats_["raw"]["p50_ms"])),
        Figure("nats: publish -> run started p99", nats_["trigger"]["p99_ms"], "ms",
               Baseline("raw JetStream publish->fetch p99", nats_["raw"]["p99_ms"])),
        Figure("filter: events/s, condition rejects 99 %", raw["filter"]["events_per_s"],
               "events/s", Baseline("bare bus events/s", raw["bus_rate"])),
    )  # fmt: skip
    if kube.get("available"):
        res.add(
            Figure("kubernetes: Pod write -> run started p50", kube["trigger"]["p50_ms"], "ms",
                   Baseline("Pod write -> bare watch event p50", kube["bare"]["p50_ms"])),
            Figure("kubernetes: Pod write -> run started p99", kube["trigger"]["p99_ms"], "ms",
                   Baseline("Pod write -> bare watch event p99", kube["bare"]["p99_ms"])),
        )  # fmt: skip
    res.details = raw
    return res


EXTERNAL: dict[str, Callable[[bool], Result]] = {
    "nats": _nats,
    "http": _http,
    "anthropic-adapter": _model,
    "openai-adapter": _openai,
    "budget": _budget,
    "webhook": _webhook,
    "triggers": _triggers,
}


def run_external(name: str, quick: bool) -> Result:
    """One external benchmark's figures, or a not-available result saying why."""
    try:
        return EXTERNAL[name](quick)
    except NotAvailable as exc:
        return Result(name, available=False, reason=str(exc))
