"""``python -m bench.report [FILE]``: the README's Performance table from a results file.

Prints Markdown (machine, command, table) for bench-results/latest.json, so
the README section is pasted from a real run rather than typed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.harness import Baseline, Figure, Result, table

__all__ = ["load", "markdown"]


def load(path: str | Path) -> tuple[dict[str, Any], list[Result]]:
    """The machine and results of a file written by ``python -m bench``."""
    doc = json.loads(Path(path).read_text())
    results = []
    for r in doc["results"]:
        figures = [
            Figure(
                f["name"],
                f["value"] if f["value"] is not None else float("nan"),
                f["unit"],
                Baseline(**f["baseline"]) if f.get("baseline") else None,
                f.get("target", ""),
                f.get("note", ""),
            )
            for f in r["figures"]
        ]
        results.append(
            Result(r["name"], figures, r["params"], {}, r["available"], r["reason"], r["seconds"])
        )
    return doc["machine"], results


def markdown(machine: dict[str, Any], results: list[Result]) -> str:
    """Machine line, exact command and the figures table, in Markdown."""
    head = (
        f"Measured on {machine['nproc']} cores ({machine['cpu']}), {machine['implementation']} "
        f"{machine['python']}, {machine['os']}, commit {machine['commit']}, with "
        f"`make bench` (`{machine['command']}`)."
    )
    if machine.get("loadavg_before") and machine.get("loadavg"):
        head += (
            f" Load average {machine['loadavg_before'][0]} before and {machine['loadavg'][0]}"
            " after (a shared machine: read the ratios, not only the values)."
        )
    return f"{head}\n\n{table(results, markdown=True)}\n"


if __name__ == "__main__":
    meta, res = load(sys.argv[1] if len(sys.argv) > 1 else "bench-results/latest.json")
    print(markdown(meta, res))
