"""The console benchmark's code path on tiny sizes (shape only, never a time)."""

from __future__ import annotations

import math

from bench import console


def test_console_bench_times_the_list_and_a_run_page_beside_a_static_file() -> None:
    """Four figures, each with the static file of the same server as its baseline."""
    result = console.run(quick=True)
    assert result.available and not result.reason
    names = [f.name for f in result.figures]
    assert names == [
        "run list TTFB p50, 50 runs",
        "run page TTFB p50, 10-step run",
        "run list TTFB p99, 50 runs",
        "run page TTFB p99, 10-step run",
    ]
    for fig in result.figures:
        assert fig.baseline is not None and fig.baseline.name.startswith("static file")
        assert math.isfinite(fig.value) and fig.value > 0
    # The page of a 10-step run carries its steps; the list carries 50 rows.
    assert result.details["page_bytes"] > result.details["static_bytes"] / 10
    assert result.details["list_bytes"] > 50 * 100
