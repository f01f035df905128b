"""``baton``: the command line. Each command group lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

# Modules that add subcommands: each has ``register(subparsers)``. A module that
# is absent (a shape not installed) is skipped, so the CLI stays importable.
COMMAND_MODULES = (
    "functions.cli.runs",
    "functions.cli.workers",
    "functions.cli.serve",
    "functions.cli.chat",
    "functions.cli.session",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available command."""
    parser = argparse.ArgumentParser(
        prog="baton", description="Run AI agents as chains of CloudEvents functions."
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("BATON_DB", ".baton/state.db"),
        help="embedded store file (default .baton/state.db, env BATON_DB)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``baton`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
