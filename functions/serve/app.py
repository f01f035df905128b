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
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.bus import Handler, matches
from events.codecs.http import from_http, to_binary
from events.datacheck import check_data, prepare
from events.errors import BatonError, MalformedEvent
from functions import chain, tracing
from functions.ports import Deps, NotFound, Store, StoreError
from functions.serve import replies
from functions.serve.body import BodyError, bearer_matches, read_capped
from functions.serve.observability import instrument_app
from functions.serve.replies import Reply
from functions.serve.settings import Settings, build_store, function_name

if TYPE_CHECKING:
    from flask import Flask

    from events.buses.http import HTTPSink

__all__ = ["accepted_filters", "app_for", "create_app", "from_env"]

log = logging.getLogger("baton.serve")

_READY_PROBE: Final = ("AgentRun", "default", "baton-readyz-probe")


def accepted_filters(function: str | None) -> tuple[Mapping[str, str], ...]:
    """The Trigger filters of ``function``'s events (every routed event for the embedded server)."""
    return tuple(r.filter for r in chain.ROUTES if function is None or r.function == function)


def _describe(filters: tuple[Mapping[str, str], ...]) -> str:
    def one(f: Mapping[str, str]) -> str:
        rest = ", ".join(f"{k}={v}" for k, v in f.items() if k != "type")
        return f"{f.get('type')} ({rest})" if rest else str(f.get("type"))

    return ", ".join(one(f) for f in filters)


class Intake:
    """Turns a request into a checked event: size, CloudEvent, routing, data schema."""

    def __init__(
        self,
        function: str | None,
        max_body: int,
        also: Callable[[BaseCloudEvent], bool] | None = None,
    ) -> None:
        self.name = function or "the embedded server"
        self.max_body = max_body
        # dead_letter takes whatever a Trigger could not deliver, off-schema events included;
        # trigger takes whatever an AgentTrigger's broker Trigger sends it.
        self.any_event = function in ("dead_letter", "trigger")
        self.filters = accepted_filters(function)
        # Events no route takes that an AgentTrigger's cloudEvent filter does (embedded).
        self.also = also

    def event(
        self, headers: Mapping[str, str], length: int | None, read: Callable[[int], bytes]
    ) -> BaseCloudEvent:
        """The event in the request, or ``MalformedEvent`` saying why it is not acceptable."""
        body = read_capped(read, length, self.max_body)
        event = from_http(headers, body)
        if self.any_event:
            return event
        routed = any(matches(event, f) for f in self.filters)
        if not routed and not (self.also is not None and self.also(event)):
            raise MalformedEvent(
                f"{self.name} does not take {event.get_type()} events "
                f"(a Trigger routed it here by mistake); it takes {_describe(self.filters)}"
            )
        if event.get_type() in types.ALL_TYPES:
            check_data(event.get_type(), event.get_data())
        return event


class FunctionRunner:
    """Runs one transition for an event and turns its result into the HTTP answer."""

    def __init__(self, function: str, handler: Handler, sink: HTTPSink | None) -> None:
        self.function = function
        self.handler = handler
        self.sink = sink

    def __call__(self, event: BaseCloudEvent) -> Reply:
        emitted = self.handler(event)
        if self.sink is not None:
            self.sink.publish_all(emitted)
            return Reply(202)
        if not emitted:
            return Reply(202)
        if len(emitted) == 1:
            message = to_binary(emitted[0])
            return Reply(200, message.body, dict(message.headers))
        log.error(
            "%s emitted %d events for %s but K_SINK is not set",
            self.function,
            len(emitted),
            event.get_id(),
        )
        return replies.json_error(
            500,
            "NoSink",
            f"{self.function} emitted {len(emitted)} events "
            f"({', '.join(e.get_type() for e in emitted)}) and can reply with one: set K_SINK",
        )


class EmbeddedRunner:
    """Publishes an event into the embedded runtime's bus."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.takes = runtime.triggers.takes

    def __call__(self, event: BaseCloudEvent) -> Reply:
        if tracing.enabled() and not event.get_extension("traceparent"):
            # The bus runs the chain on other threads: the request's trace goes with the event.
            event = tracing.with_traceparent(event, tracing.current_traceparent())
        if any(matches(event, f) for f in accepted_filters(None)):
            self.runtime.accept(event)  # stored before the 202: an accepted event is a promise
        else:  # an event for AgentTriggers with a cloudEvent source (Intake checked)
            self.runtime.triggers.deliver(event)
        return Reply(202)


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
    _warm(intake)

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


def _warm(intake: Intake) -> None:
    """Compile the data checks now, so the first event does not pay for them."""
    for filter_ in intake.filters:
        if filter_.get("type") in types.ALL_TYPES:
            prepare(filter_["type"])


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
