"""``baton``: the command line. Each command group lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from events.errors import PermanentError, TransientError
from functions.cli.target import TargetError, add_target_options

__all__ = ["main"]

# Modules that add subcommands: each has ``register(subparsers)``. A module that
# is absent (a shape not installed) is skipped, so the CLI stays importable.
COMMAND_MODULES = (
    "functions.cli.inspect",
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
    add_target_options(parser)
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    parser.add_argument("--version", action="version", version=f"baton {_version()}")
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
    if not args.verbose:  # each connection retry to a cluster that is down, unless -v
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except (TargetError, TransientError, PermanentError) as exc:
        # A store or cluster that is not there, or refuses: what it said, not a traceback.
        print(f"baton: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (| head): stop quietly. Python would complain again when it
        # flushes stdout at exit, so stdout points at /dev/null from here on.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return code


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("baton")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
