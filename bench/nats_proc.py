"""One process of the benchmarked NATS deployment, as ``baton worker``/``baton source`` run it.

``python -m bench.nats_proc worker URL DB READY`` serves every function;
``python -m bench.nats_proc source URL DB READY`` publishes the store's AgentRun changes.
Both use baton's default JetStream settings (file storage), touch READY once serving and
stop on SIGTERM. The ready file is why this is not the CLI itself: the benchmark must not
start its clock while a worker is still connecting.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from events.buses.jetstream import JetStreamConfig
from functions.runtime.workers import Source, Worker, serve_until_stopped


def main(argv: list[str]) -> None:
    """Run one worker (all functions) or the source until SIGTERM."""
    role, url, db, ready = argv[0], argv[1], argv[2], Path(argv[3])
    stop = threading.Event()
    config = JetStreamConfig()
    if role == "worker":
        with Worker([], url, db, config=config, offline_fallback=True):
            ready.touch()
            serve_until_stopped(stop)
    elif role == "source":
        with Source(url, db, config=config):
            ready.touch()
            serve_until_stopped(stop)
    else:
        raise SystemExit(f"bench.nats_proc: unknown role {role!r} (worker or source)")


if __name__ == "__main__":
    main(sys.argv[1:])
