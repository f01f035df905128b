"""The chaos benchmark (bench/chaos.py) on a tiny size: its figures exist, beside a baseline."""

from __future__ import annotations

from bench.chaos import _figures, measure


def test_chaos_bench_reports_each_figure_of_a_shape() -> None:
    """Five embedded runs under kills give every figure, all but kills beside a baseline.

    The embedded server is killed after 3-6 s of uptime: submitting over 8 s sees a kill.
    """
    chaos = measure("embedded", runs=5, seconds=10.0, seed=3, kill=True, deadline=10)
    assert chaos["runs"] == 5 and chaos["kills"] >= 1
    figures = _figures("embedded", chaos, clean=chaos)
    assert [f.name for f in figures] == [
        "runs submitted, embedded",
        "kills, embedded",
        "terminal, embedded",
        "accepted requests lost, embedded",
        "duplicate tool effects, embedded",
        "duplicate model calls, embedded",
        "tokens not counted once, embedded",
        "max lateness, embedded",
    ]
    assert all(f.baseline is not None for f in figures if not f.name.startswith("kills"))
    assert 0 <= figures[2].value <= 100
