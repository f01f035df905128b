"""``python -m bench [--quick] [--only a,b] [--out FILE]``: run, write JSON, print the table."""

from __future__ import annotations

import argparse
import os
import sys

from bench.harness import table, write_json
from bench.machine import machine
from bench.registry import BENCHMARKS, run_benchmark


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; exit 1 only if one crashed (a missed target is not a crash)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes (under a minute)")
    parser.add_argument("--only", default="", help=f"comma list of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", default="bench-results/latest.json")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = []
    for name in names:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        result = run_benchmark(name, args.quick)
        state = "not available" if not result.available else result.reason or "done"
        print(f"bench: {name} {state} ({result.seconds:.1f} s)", file=sys.stderr, flush=True)
        results.append(result)
    meta = machine()
    meta["quick"] = args.quick
    meta["loadavg_before"] = load_before
    path = write_json(args.out, results, meta)
    print(table(results, markdown=args.markdown))
    print(
        f"\n{meta['nproc']} cores, {meta['cpu']}, Python {meta['python']}, load average "
        f"{load_before[0]} before / {meta['loadavg'][0]} after; wrote {path}"
    )
    return 1 if any(r.reason.startswith("failed") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
