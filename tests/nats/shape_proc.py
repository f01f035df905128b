"""Worker and source processes for the NATS-shape tests.

``python -m tests.nats.shape_proc worker FUNCS URL DB READY`` (FUNCS comma-separated)
``python -m tests.nats.shape_proc source URL DB READY``
Both touch READY once serving and stop on SIGTERM. Memory streams, scripted models.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from events.buses.jetstream import JetStreamConfig
from functions.runtime.workers import Source, Worker, serve_until_stopped


def main(argv: list[str]) -> None:
    """Run one worker or source process."""
    config = JetStreamConfig(storage="memory", ack_wait=5.0, backoff_base=0.1)
    stop = threading.Event()
    if argv[0] == "worker":
        functions, url, db, ready = argv[1].split(","), argv[2], argv[3], Path(argv[4])
        with Worker(functions, url, db, config=config, offline_fallback=True):
            ready.touch()
            serve_until_stopped(stop)
    else:
        url, db, ready = argv[1], argv[2], Path(argv[3])
        with Source(url, db, config=config, sweep_interval=0.5):
            ready.touch()
            serve_until_stopped(stop)


if __name__ == "__main__":
    main(sys.argv[1:])
