"""Every benchmark's code path on tiny sizes, so `make bench` cannot rot.

These assert the shape of results (figures, baselines, runs Succeeded), never
a time: performance is reported by `make bench`, not tested.
"""

from __future__ import annotations

import json
import math
import os

import pytest

from bench import (
    coldstart,
    concurrency,
    embedded,
    growth,
    memory,
    nats_runs,
    process_memory,
    report,
)
from bench.__main__ import main
from bench.external import EXTERNAL, run_external
from bench.harness import Baseline, Figure, Result, percentile, table, write_json
from bench.registry import BENCHMARKS, run_benchmark
from tests.fixtures.nats import require_nats_server

TRANSITIONS = {"validate", "prepare_context", "call_llm", "call_tool", "finalize"}


def _assert_figures(result: Result) -> None:
    assert result.available, result.reason
    assert not result.reason, result.reason
    assert result.figures
    for fig in result.figures:
        assert math.isfinite(fig.value), fig
        assert fig.baseline is not None and math.isfinite(fig.baseline.value), fig
        assert fig.ratio is not None or fig.baseline.value == 0, fig
    json.dumps(result.record())  # JSON-ready


def test_percentile_is_nearest_rank() -> None:
    """p50 and p99 pick real samples, and an empty sample is NaN, not an error."""
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert math.isnan(percentile([], 50))


def test_figure_reports_ratio_and_target() -> None:
    """A figure carries its ratio to the bare baseline and whether it meets its target."""
    fast = Figure("runs/s", 600.0, "runs/s", Baseline("bare", 1200.0), target=">= 500")
    slow = Figure("p50", 0.7, "ms", Baseline("bare", 0.01), target="<= 0.5")
    assert fast.ratio == 0.5 and fast.met is True
    assert slow.met is False
    assert Figure("x", 1.0, "ms").met is None and Figure("x", 1.0, "ms").ratio is None


def test_results_write_json_and_table(tmp_path) -> None:
    """Results become a JSON file (NaN as null) and a table naming every figure."""
    ok = Result("demo", [Figure("p50", math.nan, "ms", Baseline("bare", 1.0), target="<= 1")])
    missing = Result("absent", available=False, reason="tests/bench/x.py not found")
    path = write_json(tmp_path / "out" / "r.json", [ok, missing], {"nproc": 2})
    doc = json.loads(path.read_text())
    assert doc["machine"] == {"nproc": 2}
    assert doc["results"][0]["figures"][0]["value"] is None
    assert doc["results"][1] == {**doc["results"][1], "available": False}
    text = table([ok, missing])
    assert "demo" in text and "not available" in text and "x.py not found" in text
    assert table([ok], markdown=True).startswith("| benchmark |")


def test_embedded_measures_every_transition() -> None:
    """The embedded benchmark times all five transitions and every run Succeeds."""
    result = embedded.run(seq_runs=2, batch_runs=3)
    _assert_figures(result)
    assert {f.name for f in result.figures} >= {"complete runs/s", "transition overhead p50"}
    assert result.details["succeeded"] == "5/5"
    assert set(result.details["per_transition_ms"]) == TRANSITIONS


def test_growth_sweeps_stored_runs_and_turns() -> None:
    """Growth measures at each stored-run level and transcript length, all Succeeded."""
    stored = growth.stored_runs([2, 4], seq_runs=1, batch_runs=2)
    assert [p["size"] for p in stored] == [2, 4]
    assert all(p["succeeded"] == "3/3" for p in stored)
    turned = growth.transcripts([1, 3], seq_runs=1, batch_runs=2)
    assert [p["size"] for p in turned] == [1, 3]
    assert all(p["succeeded"].split("/")[0] == p["succeeded"].split("/")[1] for p in turned)
    assert "call_tool" not in turned[0]["per_transition_ms"]  # one turn: no tool call
    assert "call_tool" in turned[1]["per_transition_ms"]


def test_concurrency_runs_in_flight_succeed() -> None:
    """Concurrent runs against a slow model all Succeed, beside the bare threads."""
    result = concurrency.run(runs=6, delay_ms=20, workers=[8])
    _assert_figures(result)
    done = next(f for f in result.figures if f.name.startswith("runs Succeeded"))
    assert done.value == 6 and done.met is True
    assert result.details["workers_sweep"][0]["workers"] == 8


def test_coldstart_reaches_first_event() -> None:
    """The cold-start child handles its first event and baton run exits cleanly."""
    result = coldstart.run(repeat=1)
    _assert_figures(result)
    assert len(result.details["samples_ms"]["first_event"]) == 1


def test_memory_reports_idle_and_after_runs() -> None:
    """Memory reads RSS of the embedded and bare processes, after runs that Succeeded."""
    result = memory.run(runs=5)
    _assert_figures(result)
    assert result.details["embedded"]["succeeded"] == 5
    assert result.details["embedded"]["after_mb"] > 0


def test_nats_runs_go_through_worker_processes() -> None:
    """Runs through 1 and 2 NATS worker processes all Succeed, beside the embedded shape."""
    require_nats_server()
    result = nats_runs.run(runs=3, workers=(1, 2))
    _assert_figures(result)
    assert [p["workers"] for p in result.details["nats"]] == [1, 2]
    assert result.details["succeeded"] == "6/6"
    assert result.details["embedded"]["succeeded"] == 3
    assert {f.baseline.name for f in result.figures if f.baseline} >= {"embedded runs/s"}


def test_process_memory_reads_worker_and_gunicorn_rss() -> None:
    """RSS of a NATS worker and a gunicorn function, idle and after, each beside a bare process."""
    require_nats_server()
    result = process_memory.run(runs=4)
    _assert_figures(result)
    assert len(result.figures) == 4
    assert result.details["nats_worker"]["succeeded"] == 4
    assert result.details["gunicorn_validate"]["answered_2xx"] == 4
    assert result.details["gunicorn_echo"]["answered_2xx"] == 4
    for side in ("nats_worker", "gunicorn_validate", "gunicorn_echo", "bare_loop"):
        assert result.details[side]["idle_mb"] > 0 and result.details[side]["after_mb"] > 0


@pytest.mark.parametrize("name", sorted(EXTERNAL))
def test_external_benchmark_runs_or_says_why(name: str) -> None:
    """Another shape's benchmark gives figures, or 'not available' with the reason."""
    result = run_external(name, quick=True)
    if not result.available:
        assert result.reason and not result.figures
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} benchmark not available in CI: {result.reason}")
        pytest.skip(f"{name}: {result.reason}")
    _assert_figures(result)


def test_registry_names_runnable_benchmarks() -> None:
    """Every registered benchmark resolves; an unknown name is refused by the CLI."""
    for name, target in BENCHMARKS.items():
        assert target.startswith("external:") or target.startswith("bench."), name
    with pytest.raises(SystemExit):
        main(["--only", "no-such-benchmark"])


def test_cli_writes_json_and_prints_table(tmp_path, capsys) -> None:
    """`python -m bench --only ...` writes the JSON file and prints the table and machine."""
    out = tmp_path / "latest.json"
    code = main(["--quick", "--only", "http", "--out", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["machine"]["nproc"] and doc["machine"]["python"] and doc["machine"]["quick"]
    assert [r["name"] for r in doc["results"]] == ["http"]
    printed = capsys.readouterr().out
    assert "http" in printed and "cores" in printed


def test_crashing_benchmark_is_reported_not_raised() -> None:
    """A benchmark that raises is recorded as failed with its cause, and nothing is raised."""

    def broken(quick: bool) -> Result:
        raise ZeroDivisionError("division by zero")

    result = run_benchmark("broken", quick=True, runner=broken)
    assert result.reason == "failed: ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in result.details["traceback"]
    assert "FAILED" in table([result])


def test_report_renders_readme_table_from_results(tmp_path) -> None:
    """The README table is rendered from a results file: machine, command and every figure."""
    fig = Figure("complete runs/s", 321.0, "runs/s", Baseline("bare loop runs/s", 9000.0), ">= 500")
    path = write_json(
        tmp_path / "latest.json",
        [Result("embedded", [fig]), Result("http", available=False, reason="not there")],
        {
            "nproc": 2,
            "cpu": "Test CPU",
            "implementation": "CPython",
            "python": "3.11.7",
            "os": "Linux",
            "commit": "abc1234",
            "command": "python -m bench",
        },
    )
    text = report.markdown(*report.load(path))
    assert "2 cores (Test CPU)" in text and "`python -m bench`" in text
    assert "| embedded | complete runs/s | 321 | runs/s | bare loop runs/s | 9,000 |" in text
    assert ">= 500 MISSED" in text and "not available" in text
