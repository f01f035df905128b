"""The processes the chaos tests SIGKILL, each with the settings a deployment gets by default.

``python -m tests.reliability.procs worker FUNCS NATS_URL DB READY``  (FUNCS comma-separated)
``python -m tests.reliability.procs source NATS_URL DB READY``
``python -m tests.reliability.procs http-source SINK_URL DB READY``  (watch + ticks over HTTP)
Each touches READY once serving and stops on SIGTERM. No test overrides of JetStream or
sweep settings: what a lost event costs here is what it costs a user. With
BATON_CHAOS_TRACE=1 each logs every event it takes and settles, stamped with epoch seconds
(what tests/reliability/timeline.py reads); with BATON_CHAOS_COLD=1 workers take events
before warming up (as before functions/runtime/warmup.py), to compare.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

__all__ = ["main"]


def _http_source(sink_url: str, db: str, ready: Path) -> None:
    """The store's watch and sweep's timer, posted to a broker (an ApiServerSource + PingSource)."""
    from events.buses.http import HTTPSink
    from functions.resources.sqlite import SqliteStore
    from functions.runtime.source import follow_runs, tick
    from functions.runtime.workers import serve_until_stopped

    store, sink, stop, watching = (
        SqliteStore(db),
        HTTPSink(sink_url),
        threading.Event(),
        threading.Event(),
    )
    threads = [
        threading.Thread(
            target=follow_runs,
            args=(store, sink.publish),
            kwargs={"stop": stop, "ready": watching, "timeout": 0.5},
            daemon=True,
        ),
        threading.Thread(
            target=tick,
            args=(sink.publish,),
            kwargs={"interval": 1.0, "stop": stop},
            daemon=True,
        ),
    ]
    for thread in threads:
        thread.start()
    watching.wait(10)
    ready.touch()
    serve_until_stopped(stop)


TRACE_ENV = "BATON_CHAOS_TRACE"
COLD_ENV = "BATON_CHAOS_COLD"


def _trace() -> None:
    """Log deliveries and claim renewals at DEBUG, each line starting with its epoch time."""
    logging.basicConfig(level=logging.WARNING, format="%(created).3f %(name)s %(message)s")
    for name in ("events.buses.jetstream_delivery", "baton"):
        logging.getLogger(name).setLevel(logging.DEBUG)


def main(argv: list[str]) -> None:
    """Run one process until SIGTERM."""
    from functions.runtime.workers import Source, Worker, serve_until_stopped

    if os.environ.get(TRACE_ENV):
        _trace()

    stop = threading.Event()
    if argv[0] == "worker":
        functions, url, db, ready = argv[1].split(","), argv[2], argv[3], Path(argv[4])
        with Worker(functions, url, db, warm=not os.environ.get(COLD_ENV)):
            ready.touch()
            serve_until_stopped(stop)
    elif argv[0] == "source":
        url, db, ready = argv[1], argv[2], Path(argv[3])
        with Source(url, db):
            ready.touch()
            serve_until_stopped(stop)
    else:
        _http_source(argv[1], argv[2], Path(argv[3]))


if __name__ == "__main__":
    main(sys.argv[1:])
