"""The chat webhook function: platforms POST here, it verifies, publishes and acknowledges at once.

``POST /slack``, ``/discord``, ``/telegram``, ``/webhook``: the request is verified
(``events.sources.chat``), the ``dev.baton.channel.message`` is published, and the
platform gets its answer (Slack's challenge, Discord's PONG or deferred response, or
``{"ok": true}``). The ack waits for the publish (a broker POST, or an in-process
enqueue), never for the run: the answer arrives later through ``deliver``.

- 401 ``BadSignature``: missing, wrong or stale signature; nothing is published.
- 400 ``MalformedEvent``: the body is not what the platform sends (names the problem).
- 413 / 408: the body is over ``BATON_MAX_BODY`` (capped before it is read, chunked or
  not) or did not arrive within the read deadline; 400 for a malformed chunked body.
- 404 ``NotConfigured``: that platform's secret is not set.
- 503: the broker is unavailable (the platform retries; the event id makes it one run).

Where it publishes: ``publish`` when given; else ``K_SINK`` (the broker); else an
embedded runtime on ``BATON_STORE`` in this process (``baton webhook``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, cast

from events.errors import MalformedEvent, PermanentError, TransientError
from events.sources.chat import PARSERS, ChatConfig, Inbound, SignatureError
from functions.serve import replies
from functions.serve.body import BodyError, read_capped
from functions.serve.replies import Reply
from functions.serve.settings import Settings

if TYPE_CHECKING:
    from flask import Flask

    from events.envelope import CloudEvent

__all__ = ["FUNCTION", "Publish", "create_webhook_app"]

FUNCTION: Final = "webhook"
log = logging.getLogger("baton.webhook")

Publish = Callable[["CloudEvent"], None]
_JSON: Final = {"content-type": "application/json"}


def _json(status: int, doc: Mapping[str, Any]) -> Reply:
    import json

    return Reply(status, json.dumps(doc).encode(), dict(_JSON))


class PlatformEndpoint:
    """One platform's endpoint: verify and parse, publish, answer."""

    def __init__(
        self, platform: str, config: ChatConfig, publish: Publish, clock: Callable[[], float]
    ) -> None:
        self.platform = platform
        self.parse = PARSERS[platform]
        self.config = config
        self.publish = publish
        self.clock = clock

    def __call__(self, headers: Mapping[str, str], body: bytes) -> Reply:
        """The answer for one request."""
        if not self.config.secret_for(self.platform):
            return replies.json_error(
                404, "NotConfigured", f"the {self.platform} webhook is not configured here"
            )
        try:
            inbound = self.parse(headers, body, self.config, self.clock())
        except SignatureError as exc:
            log.warning("%s: refused: %s", self.platform, exc.message)
            return replies.json_error(401, exc.reason, exc.message)
        except MalformedEvent as exc:
            log.info("%s: malformed request: %s", self.platform, exc.message)
            return replies.json_error(400, exc.reason, exc.message)
        return self._publish(inbound)

    def _publish(self, inbound: Inbound) -> Reply:
        if inbound.event is None:
            log.debug("%s: nothing to run: %s", self.platform, inbound.ignored)
            return _json(200, inbound.answer or {"ok": True, "ignored": inbound.ignored})
        event = inbound.event
        try:
            self.publish(event)
        except TransientError as exc:
            log.warning("%s: publishing %s failed: %s", self.platform, event.get_id(), exc.message)
            headers = {"retry-after": str(max(1, math.ceil(exc.delay)))} if exc.delay else None
            return replies.json_error(503, exc.reason, "the event bus is unavailable", headers)
        except PermanentError as exc:  # the broker refused: a deployment error, not the caller's
            log.error("%s: publishing %s refused: %s", self.platform, event.get_id(), exc.message)
            return replies.json_error(500, exc.reason, "the event bus refused the message")
        log.info("%s: published %s %s", self.platform, event.get_source(), event.get_id())
        return _json(200, inbound.answer or {"ok": True, "id": event.get_id()})


def _default_publish(settings: Settings) -> tuple[Publish, Callable[[], None]]:
    """The broker at ``K_SINK``, or an embedded runtime on the settings' store."""
    if settings.sink:
        from events.buses.http import HTTPSink

        # Slack and Discord wait 3 s for the ack: give up on the broker before they do.
        sink = HTTPSink(settings.sink, timeout=min(settings.sink_timeout, 2.0))
        return sink.publish, sink.close
    from functions.runtime.embedded import DEFAULT_DB, Embedded
    from functions.serve.settings import build_store

    spec = settings.store
    db = spec[len("sqlite:///") :] if spec.startswith("sqlite:///") else DEFAULT_DB
    runtime = Embedded(db, store=build_store(spec), offline_fallback=True)
    runtime.start()
    return runtime.bus.publish, runtime.stop


def create_webhook_app(
    config: ChatConfig | None = None,
    publish: Publish | None = None,
    *,
    settings: Settings | None = None,
    clock: Callable[[], float] = time.time,
) -> Flask:
    """A Flask app serving the chat webhooks (see the module docstring)."""
    from flask import Flask, Response, request
    from werkzeug.exceptions import HTTPException

    config = config or ChatConfig.from_env()
    if not config.default_agent and not config.platform_agents:
        raise ValueError("no agent answers chat messages: set BATON_CHAT_AGENT (or --agent)")
    settings = settings or Settings.from_env()
    close: Callable[[], None] = lambda: None  # noqa: E731
    if publish is None:
        publish, close = _default_publish(settings)
    endpoints = {p: PlatformEndpoint(p, config, publish, clock) for p in PARSERS}
    max_body = settings.max_body

    app = Flask("baton.webhook")
    app.extensions["baton"] = {"function": FUNCTION, "close": close}

    def answer(reply: Reply) -> Response:
        return Response(reply.body, status=reply.status, headers=reply.headers)

    def receive(platform: str) -> Response:
        # Capped before it is read, chunked or not: an unauthenticated sender must not make
        # the webhook buffer megabytes only to be refused by the signature check.
        try:
            body = read_capped(request.stream.read, request.content_length, max_body)
        except BodyError as exc:
            log.info("%s: body refused: %s", platform, exc.message)
            return answer(replies.json_error(exc.status, exc.reason, exc.message))
        headers = cast(Mapping[str, str], request.headers)  # case-insensitive, as HTTP is
        return answer(endpoints[platform](headers, body))

    for platform in PARSERS:
        app.add_url_rule(
            f"/{platform}",
            f"receive_{platform}",
            receive,
            methods=["POST"],
            defaults={"platform": platform},
        )

    @app.get("/healthz")
    def healthz() -> Response:
        doc = {"status": "ok", "platforms": config.configured()}
        return answer(_json(200, doc))

    @app.errorhandler(HTTPException)
    def routing_error(exc: HTTPException) -> Response:
        return answer(replies.http_error(exc.code or 500, exc.name, exc.description or ""))

    from functions.serve.observability import instrument_app

    return instrument_app(app)
