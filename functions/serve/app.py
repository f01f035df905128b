"""The Flask app factory: one function (or the embedded server) taking CloudEvents at POST /.

``create_app("call_llm")`` serves one transition, as a Knative Service does. The answer
is an empty 202, or exactly one CloudEvent in binary mode (200). When ``K_SINK`` is set
every emitted event is POSTed there before answering an empty 202: tool fan-out needs
several events, and the broker's reply chains die after 255 hops. Without a sink a
transition that emits several events gets 500 (``NoSink``): a deployment error, its
state is written and sweep re-emits what is missing once a sink is configured.

``create_app(None)`` is the embedded server: every function in this process on the
in-process bus and the store; POST / publishes the event into the bus and answers 202.
Run it with one gunicorn worker (``baton serve`` does): each worker would run a chain.

Both: ``GET /healthz`` (the process answers), ``GET /readyz`` (the store answers),
``GET /metrics`` (Prometheus, see ``functions.observe.metrics``).
See ``functions.serve.replies`` for the status codes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from cloudevents.core.base import BaseCloudEvent

from events.errors import BatonError
from functions import chain
from functions.ports import Deps, NotFound, Store, StoreError
from functions.serve import replies
from functions.serve.body import BodyError, bearer_matches
from functions.serve.intake import Intake, accepted_filters
from functions.serve.observability import instrument_app
from functions.serve.replies import Reply
from functions.serve.runners import EmbeddedRunner, FunctionRunner
from functions.serve.settings import Settings, build_store, function_name

if TYPE_CHECKING:
    from flask import Flask

    from events.buses.http import HTTPSink

__all__ = ["accepted_filters", "app_for", "create_app", "from_env"]

log = logging.getLogger("baton.serve")

_READY_PROBE: Final = ("AgentRun", "default", "baton-readyz-probe")


def _ready(store: Store) -> Reply:
    try:
        store.get(*_READY_PROBE)
    except NotFound:
        pass  # the store answered
    except (BatonError, StoreError, OSError) as exc:
        return replies.unavailable(f"store not reachable: {exc}")
    return Reply(200, b'{"status":"ready"}', {"content-type": "application/json"})


def create_app(
    function: str | None = None,
    deps: Deps | None = None,
    *,
    settings: Settings | None = None,
    store: Store | None = None,
    sink: HTTPSink | None = None,
) -> Flask:
    """A Flask app serving ``function`` (a name in ``chain.FUNCTIONS``), or every function."""
    from flask import Flask, Response, request
    from werkzeug.exceptions import HTTPException

    settings = settings or Settings.from_env()
    function = function_name(function)
    if function is not None and function not in chain.FUNCTIONS:
        raise ValueError(f"unknown function {function!r}; known: {', '.join(chain.FUNCTIONS)}")
    if store is None:
        store = deps.store if deps is not None else build_store(settings.store)
    close: Callable[[], None]
    runner: Callable[[BaseCloudEvent], Reply]
    if function is None:
        runner, close = _embedded(settings, store, deps)
    else:
        if sink is None and settings.sink:
            from events.buses.http import HTTPSink

            sink = HTTPSink(settings.sink, timeout=settings.sink_timeout)
        closers: list[Callable[[], None]] = [sink.close] if sink is not None else []
        if deps is None:
            from functions.runtime.deps import build_deps

            # In Kubernetes a Model's key is read from its Secret; elsewhere from the env.
            secrets = getattr(store, "read_secret", None)
            deps = build_deps(store, secrets=secrets, offline_fallback=settings.offline_models)
            # built here, so stopped here: the MCP servers its toolbox started end with the app
            closers += [c for c in [getattr(deps.tools, "close", None)] if c is not None]
        runner = FunctionRunner(function, chain.bind(function, deps), sink)
        close = functools.partial(_close_all, closers)
    intake = Intake(function, settings.max_body, getattr(runner, "takes", None))
    intake.warm()

    app = Flask(f"baton.{function or 'embedded'}")
    app.extensions["baton"] = {"function": function, "store": store, "close": close}
    if function is None:  # the embedded server shows its runs at /console/
        _mount_console(app, store, runner)

    def answer(reply: Reply) -> Response:
        response = Response(reply.body, status=reply.status, headers=reply.headers)
        if not reply.body:
            del response.headers["Content-Type"]  # an empty 2xx is "done", no body to type
        return response

    @app.post("/")
    def receive() -> Response:
        if settings.ingress_token and not bearer_matches(
            request.headers.get("Authorization"), settings.ingress_token
        ):
            # Checked before the body is read: a stranger costs a header parse, no more.
            return answer(
                replies.json_error(
                    401, "Unauthorized", "POST / needs Authorization: Bearer <BATON_INGRESS_TOKEN>"
                )
            )
        try:
            event = intake.event(dict(request.headers), request.content_length, request.stream.read)
            return answer(runner(event))
        except BodyError as exc:  # 413 too large, 408 too slow, 400 malformed chunking
            _log_error(function, exc.status, exc)
            return answer(replies.json_error(exc.status, exc.reason, exc.message))
        except BatonError as exc:
            reply = replies.error_reply(exc)
            assert reply is not None
            _log_error(function, reply.status, exc)
            return answer(reply)
        except Exception as exc:  # a bug or a store failure: Knative retries 500, log why
            reply = replies.error_reply(exc)
            if reply is None:
                log.exception(
                    "%s failed on %s", function or "embedded", request.headers.get("ce-id")
                )
                reply = replies.internal_error(exc)
            return answer(reply)

    @app.get("/healthz")
    def healthz() -> Response:
        return answer(Reply(200, b'{"status":"ok"}', {"content-type": "application/json"}))

    @app.get("/readyz")
    def readyz() -> Response:
        return answer(_ready(store))

    @app.errorhandler(HTTPException)
    def routing_error(exc: HTTPException) -> Response:
        return answer(replies.http_error(exc.code or 500, exc.name, exc.description or ""))

    return instrument_app(app)


def _close_all(closers: list[Callable[[], None]]) -> None:
    for close in closers:
        close()


def _log_error(function: str | None, status: int, exc: BatonError) -> None:
    level = logging.INFO if status in (429, 503) else logging.WARNING
    log.log(level, "%s: HTTP %d %s: %s", function or "embedded", status, exc.reason, exc.message)


def _embedded(
    settings: Settings, store: Store, deps: Deps | None
) -> tuple[Any, Callable[[], None]]:
    from functions.runtime.embedded import DEFAULT_DB, Embedded

    spec = settings.store
    db = spec[len("sqlite:///") :] if spec.startswith("sqlite:///") else DEFAULT_DB
    runtime = Embedded(db, store=store, deps=deps, offline_fallback=True)
    runtime.start()
    return EmbeddedRunner(runtime), runtime.stop


def _mount_console(app: Flask, store: Store, runner: Any) -> None:
    import os

    from functions.console import mount
    from functions.serve.console import chain_log_of

    runtime = runner.runtime
    log = chain_log_of(runtime.events) if runtime.events is not None else None
    bind = os.environ.get("BATON_BIND_HOST", "0.0.0.0")
    mount(app, store, chain_log=log, deps=lambda: runtime.deps, bind_host=bind)


def from_env() -> Flask:
    """The app ``BATON_FUNCTION`` names (the embedded server when unset): gunicorn's entry."""
    return app_for(Settings.from_env())


def app_for(settings: Settings) -> Flask:
    """The app ``settings.function`` names: a transition, the chat webhook, or every function."""
    if settings.function == "webhook":  # the chat webhook: not a transition, its own app
        from functions.serve.webhook import create_webhook_app

        return create_webhook_app(settings=settings)
    if settings.function == "console":  # the web console: reads the store, not an event
        from functions.serve.console import create_console_app

        return create_console_app(settings)
    return create_app(settings.function, settings=settings)
