"""The observability benchmark's code path on its quick size (it reports; it never judges)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_observe_bench_measures_each_setting_beside_off(tmp_path: Path) -> None:
    """Every setting yields samples, each figure beside the off baseline measured alongside."""
    # Its own process: tracing installs this process's one global tracer provider.
    out = tmp_path / "observe.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "observe", "--out", str(out)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(out.read_text())["results"]
    assert result["available"] and not result["reason"]
    samples = result["details"]["samples"]
    assert set(samples) == {"off", "metrics + events", "metrics + events + tracing"}
    assert len(set(samples.values())) == 1 and samples["off"] >= 50
    figures = result["figures"]
    assert [f["baseline"]["name"] for f in figures] == [
        "observability off p50", "observability off p99",
    ] * 2  # fmt: skip
    assert all(math.isfinite(f["value"]) and f["value"] > 0 for f in figures)
