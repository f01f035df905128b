"""gunicorn settings for a baton function: ``gunicorn -c python:functions.serve.gunicorn_conf
'functions.serve.app:from_env()'`` (or ``baton serve``, which uses these too).

- gthread workers (with a read deadline, ``functions.serve.worker``): a function mostly
  waits on a model, a tool or the API server, so threads
  (not processes) carry the concurrency; Knative's ``containerConcurrency`` matches.
- ``timeout`` above the model timeout: the default sync worker's 30 s kills model calls.
  (A gthread worker's heartbeat comes from its main loop, so a long call in a thread does
  not trip it; Knative's ``timeoutSeconds`` is at most 600, so 660 only fires when stuck.)
- ``preload_app`` off: the app (store client, model clients) is built in each worker after
  fork, never shared across a fork.
- ``bind`` on ``$PORT`` (Knative's container contract), all interfaces unless ``BATON_BIND_HOST``.
"""

from __future__ import annotations

import os
from typing import Any

bind = f"{os.environ.get('BATON_BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
# gthread with a read deadline per request (BATON_READ_DEADLINE, default 10 s): a sender
# that stops halfway through a request cannot hold a thread (functions/serve/worker.py).
worker_class = "functions.serve.worker.DeadlineThreadWorker"
workers = int(os.environ.get("BATON_WORKERS", "1"))
threads = int(os.environ.get("BATON_THREADS", "32"))
timeout = int(os.environ.get("BATON_WORKER_TIMEOUT", "660"))
# Knative sends SIGTERM and waits: in-flight events get this long to finish.
graceful_timeout = int(os.environ.get("BATON_GRACEFUL_TIMEOUT", "30"))
# Longer than Go's default idle-connection timeout (90 s; Knative's queue-proxy and broker
# are Go): the client closes idle connections first, so no request races the server's close.
keepalive = 95
preload_app = False
accesslog = os.environ.get("BATON_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("BATON_LOG_LEVEL", "info")
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn >= 25 opens a control socket at one fixed path per user: several functions on one
# host (tests, a laptop) would take it from each other, and a container has no use for it.
control_socket_disable = True


def post_fork(server: Any, worker: Any) -> None:
    """Each worker builds its own clients (the app factory runs here, preload off); log setup."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    if not root.handlers:  # baton's loggers ("baton.*", "functions.*") propagate here
        root.addHandler(handler)
        root.setLevel(loglevel.upper())


def worker_exit(server: Any, worker: Any) -> None:
    """Stop what the app started (the embedded runtime's threads, the sink's connection)."""
    app = getattr(worker, "wsgi", None)
    extensions = getattr(app, "extensions", None) or {}
    close = (extensions.get("baton") or {}).get("close")
    if close is not None:
        close()


def child_exit(server: Any, worker: Any) -> None:
    """A worker gone (ended or killed): its live gauges leave the merged /metrics with it."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
