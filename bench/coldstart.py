"""Cold start: process exec -> first event handled, beside bare interpreter starts.

The clock is CLOCK_MONOTONIC, shared by every process on the machine: the
parent reads it just before exec and the child prints it when its first
transition has handled an event (validate's ``run.accepted`` is published)
on config/samples/hello.yaml. The child does what ``baton run`` does (load
files, start the embedded runtime, apply) and imports nothing of the bench.
Baselines: ``python -c pass`` and ``python -c "import flask"``, exec -> exit.
A second figure times the real ``baton run hello.yaml`` exec -> exit.
Each is the median of ``repeat`` starts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import ROOT, Baseline, Figure, Result

__all__ = ["exec_to_exit", "first_event", "run"]

HELLO = ROOT / "config" / "samples" / "hello.yaml"

# What `baton run FILE` does up to the first transition, plus a tap that says when.
FIRST_EVENT = """
import sys, time, threading
from functions.cli.manifests import apply, load_files
from functions.runtime.embedded import Embedded
first = threading.Event()
def tap(event):
    if event.get_type().startswith("dev.baton.") and not first.is_set():
        print(time.monotonic(), flush=True)
        first.set()
with Embedded(sys.argv[1], offline_fallback=True, sweep_interval=0) as runtime:
    runtime.bus.tap(tap)
    apply(runtime.store, load_files([sys.argv[2]]), rerun=True)
    first.wait(30)
    runtime.bus.wait_idle(30)
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    return env


def first_event(repeat: int) -> list[float]:
    """Seconds from exec to the first event handled, one per start."""
    times = []
    for i in range(repeat):
        with tempfile.TemporaryDirectory(prefix="baton-cold-") as tmp:
            started = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-c", FIRST_EVENT, f"{tmp}/state-{i}.db", str(HELLO)],
                cwd=ROOT,
                env=_env(),
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
            if proc.returncode != 0 or not proc.stdout.strip():
                raise RuntimeError(f"cold-start child failed: {proc.stderr.strip()[-300:]}")
            times.append(float(proc.stdout.split()[0]) - started)
    return times


def exec_to_exit(argv: list[str], repeat: int) -> list[float]:
    """Seconds from exec to exit of ``argv``, one per start."""
    times = []
    for _ in range(repeat):
        started = time.monotonic()
        subprocess.run(argv, cwd=ROOT, env=_env(), capture_output=True, check=True, timeout=60)
        times.append(time.monotonic() - started)
    return times


def _baton() -> list[str]:
    script = Path(sys.executable).parent / "baton"
    return [str(script)] if script.exists() else [sys.executable, "-m", "functions.cli.main"]


def run(quick: bool = False, *, repeat: int = 0) -> Result:
    """Median exec -> first event, and ``baton run hello.yaml``, vs bare Python starts."""
    repeat = repeat or (2 if quick else 9)
    res = Result("coldstart", params={"repeat": repeat, "file": "config/samples/hello.yaml"})
    py_pass = exec_to_exit([sys.executable, "-c", "pass"], repeat)
    py_flask = exec_to_exit([sys.executable, "-c", "import flask"], repeat)
    first = first_event(repeat)
    with tempfile.TemporaryDirectory(prefix="baton-cold-") as tmp:
        cli = exec_to_exit([*_baton(), "--db", f"{tmp}/state.db", "run", str(HELLO)], repeat)
    med = statistics.median
    res.add(
        Figure(
            "exec -> first event (embedded)",
            med(first) * 1000,
            "ms",
            Baseline("python -c pass", med(py_pass) * 1000),
            target="<= 300",
        ),
        Figure(
            "exec -> first event (embedded)",
            med(first) * 1000,
            "ms",
            Baseline('python -c "import flask"', med(py_flask) * 1000),
        ),
        Figure(
            "baton run hello.yaml, exec -> exit",
            med(cli) * 1000,
            "ms",
            Baseline("python -c pass", med(py_pass) * 1000),
        ),
    )
    res.details = {
        "samples_ms": {
            "first_event": [round(t * 1000, 1) for t in first],
            "baton_run_hello": [round(t * 1000, 1) for t in cli],
            "python_pass": [round(t * 1000, 1) for t in py_pass],
            "python_import_flask": [round(t * 1000, 1) for t in py_flask],
        },
        "method": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
    }
    return res


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick).record()))
