"""The console's routes: the page, its JSON API, the live list, and the actions.

Mounted under ``/console`` by the embedded server (``baton serve``) and served alone
as the ``console`` Knative Service. Reads are open; actions go through
``functions.console.auth``. Every name in a path is checked before the store sees it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from functions.console import actions
from functions.console.auth import TOKEN_ENV, action_refusal
from functions.console.catalog import catalog
from functions.console.live import list_runs, stream_runs
from functions.console.timeline import ChainLog, run_page
from functions.console.views import BadFilter, RunFilter
from functions.ports import Deps, NotFound, Resource, Store

if TYPE_CHECKING:
    from flask import Blueprint, Response

__all__ = ["MAX_ACTION_BODY", "PREFIX", "console_blueprint"]

PREFIX: Final = "/console"
MAX_ACTION_BODY: Final = 256 * 1024
_NAME: Final = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_SECURITY_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Everything the page needs ships with it: no CDN, no inline script.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
}


def console_blueprint(
    store: Store,
    *,
    chain_log: ChainLog | None,
    deps: Callable[[], Deps],
    bind_host: str,
    token: str | None = None,
) -> Blueprint:
    """The console for ``store``; ``chain_log`` reads a run's events (None: not kept)."""
    from flask import Blueprint, Response, request, stream_with_context

    token = os.environ.get(TOKEN_ENV) if token is None else token
    here = os.path.dirname(__file__)
    bp = Blueprint("console", __name__, static_folder=os.path.join(here, "static"))

    def answer(status: int, doc: Any) -> Response:
        body = json.dumps(doc, separators=(",", ":"), default=str)
        return Response(body, status=status, mimetype="application/json")

    def problem(status: int, reason: str, message: str) -> Response:
        return answer(status, {"reason": reason, "message": message})

    def the_run(namespace: str, name: str) -> Resource | Response:
        for value, what in ((namespace, "namespace"), (name, "name")):
            if not _NAME.match(value):
                return problem(400, "BadName", f"{what} {value[:80]!r} is not a valid name")
        try:
            return store.get("AgentRun", namespace, name)
        except NotFound:
            return problem(404, "NotFound", f"agentrun {namespace}/{name} not found")

    def body_of() -> Mapping[str, Any] | Response:
        length = request.content_length
        if length is not None and length > MAX_ACTION_BODY:
            return problem(413, "TooLarge", f"body over {MAX_ACTION_BODY} bytes")
        raw = request.stream.read(MAX_ACTION_BODY + 1)
        if len(raw) > MAX_ACTION_BODY:
            return problem(413, "TooLarge", f"body over {MAX_ACTION_BODY} bytes")
        if not raw.strip():
            return {}
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            return problem(400, "BadRequest", f"body is not JSON: {exc}")
        if not isinstance(doc, dict):
            return problem(400, "BadRequest", "body must be a JSON object")
        return doc

    @bp.after_request
    def harden(response: Response) -> Response:
        response.headers.update(_SECURITY_HEADERS)
        return response

    @bp.get("/")
    def page() -> Response:
        return bp.send_static_file("index.html")

    @bp.get("/api/info")
    def info() -> Response:
        refusal = action_refusal({}, token=token, bind_host=bind_host)
        return answer(
            200,
            {
                "timed": chain_log is not None,
                "actions": "token" if token else ("open" if refusal is None else "off"),
                "why": refusal[1] if refusal and not token else "",
            },
        )

    @bp.get("/api/runs")
    def runs() -> Response:
        try:
            flt = RunFilter.parse(request.args)
        except BadFilter as exc:
            return problem(400, "BadFilter", str(exc))
        return answer(200, list_runs(store, flt))

    @bp.get("/api/runs/stream")
    def runs_stream() -> Response:
        try:
            flt = RunFilter.parse(request.args)
        except BadFilter as exc:
            return problem(400, "BadFilter", str(exc))
        return Response(
            stream_with_context(stream_runs(store, flt)),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @bp.get("/api/runs/<namespace>/<name>")
    def run(namespace: str, name: str) -> Response:
        found = the_run(namespace, name)
        if isinstance(found, Response):
            return found
        return answer(200, run_page(store, found, chain_log))

    @bp.get("/api/catalog")
    def resources() -> Response:
        try:
            flt = RunFilter.parse({"namespace": request.args.get("namespace", "")})
        except BadFilter as exc:
            return problem(400, "BadFilter", str(exc))
        return answer(200, catalog(store, flt.namespace))

    @bp.post("/api/runs/<namespace>/<name>/<verb>")
    def act(namespace: str, name: str, verb: str) -> Response:
        if verb not in ("approve", "reject", "cancel", "input"):
            return problem(
                404, "NotFound", f"no action {verb[:40]!r}: approve, reject, cancel, input"
            )
        given = {"Authorization": request.headers.get("Authorization", "")}
        refusal = action_refusal(given, token=token, bind_host=bind_host)
        if refusal is not None:
            status, why = refusal
            refused = problem(status, "Forbidden" if status == 403 else "Unauthorized", why)
            if status == 401:
                refused.headers["WWW-Authenticate"] = 'Bearer realm="baton"'
            return refused
        body = body_of()
        if isinstance(body, Response):
            return body
        found = the_run(namespace, name)
        if isinstance(found, Response):
            return found
        if verb == "input":
            status, doc = actions.send(deps(), found, body)
        elif verb == "cancel":
            status, doc = actions.cancel(store, found, body)
        else:
            status, doc = actions.approve(store, found, body, reject=verb == "reject")
        return answer(status, doc)

    return bp
