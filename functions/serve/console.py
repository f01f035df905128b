"""The console served alone: ``BATON_FUNCTION=console`` (the ``console`` Knative Service).

It reads the store ``BATON_STORE`` names; on SQLite it also reads the run's chain of
events beside it (on Kubernetes there is none: the timeline comes from the journal).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from functions.console import mount
from functions.console.timeline import ChainLog
from functions.ports import Deps, Resource

if TYPE_CHECKING:
    from flask import Flask

    from functions.runtime.eventlog import EventLog, LoggedEvent
    from functions.serve.settings import Settings

__all__ = ["FUNCTION", "chain_log_at", "chain_log_of", "create_console_app"]

FUNCTION = "console"


def chain_log_of(log: EventLog) -> ChainLog:
    """A run's events as ``log`` keeps them (the one place that knows how a run is keyed)."""

    def read(run: Resource) -> list[LoggedEvent]:
        meta = run["metadata"]
        key = f"{meta.get('namespace', 'default')}/{meta['name']}"
        return log.read(key, uid=str(meta.get("uid") or "") or None)

    return read


def chain_log_at(db_path: str) -> ChainLog:
    """Reads a run's events from the event log in the SQLite file ``db_path``."""
    from functions.runtime.eventlog import EventLog

    return chain_log_of(EventLog(db_path))


def create_console_app(settings: Settings | None = None) -> Flask:
    """A Flask app serving only the console."""
    from flask import Flask, Response
    from werkzeug.exceptions import HTTPException

    from functions.serve import replies
    from functions.serve.settings import Settings, build_store

    settings = settings or Settings.from_env()
    store = build_store(settings.store)
    db = settings.store.removeprefix("sqlite:///") if settings.store.startswith("sqlite:") else ""
    built: list[Deps] = []

    def deps() -> Deps:
        if not built:
            from functions.runtime.deps import build_deps

            built.append(build_deps(store))
        return built[0]

    app = Flask("baton.console")
    app.extensions["baton"] = {"function": FUNCTION, "store": store, "close": lambda: None}
    bind = os.environ.get("BATON_BIND_HOST", "0.0.0.0")
    mount(app, store, chain_log=chain_log_at(db) if db else None, deps=deps, bind_host=bind)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status":"ok"}', mimetype="application/json")

    @app.errorhandler(HTTPException)
    def routing_error(exc: HTTPException) -> Response:
        reply = replies.http_error(exc.code or 500, exc.name, exc.description or "")
        return Response(reply.body, status=reply.status, headers=reply.headers)

    return app
