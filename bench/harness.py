"""Benchmark records: figures beside their bare baselines, percentiles, JSON and a table.

A benchmark returns a ``Result``: a list of ``Figure``s, each a measured value
with the bare baseline measured in the same run and their ratio, so the
result survives a noisy shared machine. Nothing here judges a time; targets
are recorded and reported as met or missed, never asserted.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Baseline",
    "Figure",
    "Result",
    "Timer",
    "percentile",
    "run_child",
    "summary",
    "table",
    "write_json",
]


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p99, mean and count of a sample."""
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "mean": sum(values) / len(values) if values else math.nan,
        "n": float(len(values)),
    }


class Timer:
    """Wall time (``elapsed``) and whole-process CPU time (``cpu``) of a ``with`` block, in s.

    CPU time counts every thread of the process; on a shared machine it moves
    far less than wall time, so CPU per run is the steadier figure.
    """

    def __enter__(self) -> Timer:
        self.elapsed = self.cpu = 0.0
        self._cpu = time.process_time()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.started
        self.cpu = time.process_time() - self._cpu


@dataclass(frozen=True)
class Baseline:
    """The bare thing the figure is compared with, measured in the same run."""

    name: str
    value: float


@dataclass(frozen=True)
class Figure:
    """One measured number, its unit, its baseline and the target it aims at."""

    name: str
    value: float
    unit: str
    baseline: Baseline | None = None
    target: str = ""  # e.g. ">= 500" or "<= 0.5"; empty when the figure has none
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """value / baseline (how many times the bare figure)."""
        if self.baseline is None or not self.baseline.value:
            return None
        return self.value / self.baseline.value

    @property
    def met(self) -> bool | None:
        """Whether ``value`` meets ``target``; None without a target."""
        if not self.target:
            return None
        op, _, bound = self.target.partition(" ")
        limit = float(bound)
        return self.value >= limit if op == ">=" else self.value <= limit

    def record(self) -> dict[str, Any]:
        """The figure as a JSON-ready dict (with ratio and met)."""
        out = asdict(self)
        out["ratio"] = self.ratio
        out["met"] = self.met
        return out


@dataclass
class Result:
    """What one benchmark measured, or why it could not."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    available: bool = True
    reason: str = ""  # why it is not available, or why it failed
    seconds: float = 0.0

    def add(self, *figures: Figure) -> None:
        """Append figures."""
        self.figures.extend(figures)

    def record(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        return {
            "name": self.name,
            "available": self.available,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "params": self.params,
            "figures": [f.record() for f in self.figures],
            "details": self.details,
        }


ROOT = Path(__file__).resolve().parent.parent


def run_child(module: str, *args: str, timeout: float = 900) -> dict[str, Any]:
    """Run ``python -m module args`` in a fresh process; its last stdout line is JSON."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(
            f"{module} {' '.join(args)} exited {proc.returncode}: {' | '.join(tail)}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def write_json(path: str | Path, results: Sequence[Result], meta: dict[str, Any]) -> Path:
    """Write every result and the machine under ``path`` (parents created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"machine": meta, "results": [r.record() for r in results]}
    out.write_text(json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n")
    return out


def _finite(value: Any) -> Any:
    """NaN/inf become null: JSON has no NaN, and a missing number is not a number."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def table(results: Sequence[Result], markdown: bool = False) -> str:
    """A human-readable table: figure, value, baseline, ratio, target."""
    header = ("benchmark", "figure", "value", "unit", "baseline", "bare", "ratio", "target")
    rows: list[tuple[str, ...]] = []
    for res in results:
        if not res.available or not res.figures:
            rows.append(
                (
                    res.name,
                    "not available" if not res.available else "FAILED" if res.reason else "none",
                    "",
                    "",
                    res.reason[:80],
                    "",
                    "",
                    "",
                )
            )
            continue
        for fig in res.figures:
            met = {True: " ok", False: " MISSED", None: ""}[fig.met]
            base = fig.baseline
            rows.append(
                (
                    res.name,
                    fig.name,
                    _fmt(fig.value),
                    fig.unit,
                    base.name if base else "",
                    _fmt(base.value) if base else "",
                    f"{_fmt(fig.ratio)}x" if fig.ratio is not None else "",
                    f"{fig.target}{met}" if fig.target else "",
                )
            )
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
