"""The web console: runs live, a run's chain as a timeline, the transcript, and actions.

``mount(app, ...)`` adds it under ``/console`` to a Flask app (the embedded server does);
``functions.serve.console`` serves it alone (``BATON_FUNCTION=console``, the Knative Service).
The page is plain ES modules and CSS shipped in this package: no CDN, no build step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from functions.console.blueprint import PREFIX, console_blueprint
from functions.console.timeline import ChainLog
from functions.ports import Deps, Store

if TYPE_CHECKING:
    from flask import Flask, Response

__all__ = ["PREFIX", "mount"]


def mount(
    app: Flask,
    store: Store,
    *,
    chain_log: ChainLog | None,
    deps: Callable[[], Deps],
    bind_host: str,
) -> None:
    """Serve the console at ``/console/`` of ``app``; ``GET /`` leads there."""
    from flask import redirect

    bp = console_blueprint(store, chain_log=chain_log, deps=deps, bind_host=bind_host)
    app.register_blueprint(bp, url_prefix=PREFIX)

    def to_console() -> Response:
        return redirect(f"{PREFIX}/", code=302)  # type: ignore[return-value]

    app.add_url_rule("/", "console_home", to_console, methods=["GET"])
