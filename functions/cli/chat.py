"""``baton webhook`` (the chat webhook with an embedded runtime) and ``baton chat-send``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from typing import Any

__all__ = ["register"]

DEFAULT_PORT = 8090


def cmd_webhook(args: argparse.Namespace) -> int:
    """Serve POST /slack, /discord, /telegram, /webhook; messages run here and answers go back."""
    import dataclasses

    from gunicorn.app.base import BaseApplication

    from events.sources.chat import ChatConfig
    from functions.serve import gunicorn_conf
    from functions.serve.settings import Settings

    config = ChatConfig.from_env()
    if args.agent:
        config = dataclasses.replace(config, default_agent=args.agent)
    if not config.default_agent and not config.platform_agents:
        print(
            "baton webhook: say which agent answers: --agent NAME or BATON_CHAT_AGENT",
            file=sys.stderr,
        )
        return 2
    env = Settings.from_env()
    store = args.store or os.environ.get("BATON_STORE") or f"sqlite:///{args.db}"
    for warning in startup_warnings(config, None if args.sink else store):
        print(f"baton webhook: warning: {warning}", file=sys.stderr)
    # No K_SINK: the messages run in this process (the embedded runtime), answers included.
    settings = dataclasses.replace(env, function="webhook", store=store, sink=args.sink)
    options: dict[str, Any] = {
        "bind": f"{args.host}:{args.port}",
        "worker_class": gunicorn_conf.worker_class,
        "workers": 1,  # one embedded runtime: each worker would run its own chain
        "threads": args.threads,
        "timeout": gunicorn_conf.timeout,
        "keepalive": gunicorn_conf.keepalive,
        "control_socket_disable": True,
        "post_fork": gunicorn_conf.post_fork,
        "worker_exit": gunicorn_conf.worker_exit,
        "loglevel": gunicorn_conf.loglevel,
        "errorlog": "-",
    }

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings and value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            # Runs in the worker after fork (preload off): the runtime is built there.
            from functions.serve.webhook import create_webhook_app

            return create_webhook_app(config, settings=settings)

    where = f"http://{options['bind']}"
    platforms = ", ".join(f"/{p}" for p in config.configured()) or "none (set their secrets)"
    print(f"baton: chat webhook on {where} ({platforms}); store {store}", file=sys.stderr)
    Server().run()
    return 0


def cmd_chat_send(args: argparse.Namespace) -> int:
    """Sign and POST one message to a generic webhook (``/webhook``), as a sender would."""
    import http.client
    from urllib.parse import urlsplit

    from events.sources.chat.config import read_secret
    from events.sources.chat.signatures import sign_baton

    secret = read_secret(os.environ, "BATON_WEBHOOK_SECRET")
    if not secret:
        print("baton chat-send: set BATON_WEBHOOK_SECRET", file=sys.stderr)
        return 2
    doc: dict[str, Any] = {
        "text": args.text,
        "thread": args.thread,
        "id": args.id or str(uuid.uuid4()),
    }
    if args.agent:
        doc["agent"] = args.agent
    if args.reply_to:
        doc["replyTo"] = args.reply_to
    body = json.dumps(doc).encode()
    url = urlsplit(args.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=10)
    try:
        headers = {
            "content-type": "application/json",
            "x-baton-signature": sign_baton(secret, body, int(time.time())),
        }
        conn.request("POST", url.path or "/webhook", body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read().decode("utf-8", "replace")
    except OSError as exc:
        print(f"baton chat-send: {args.url}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"HTTP {response.status} {answer}")
    return 0 if response.status < 300 else 1


# Platforms whose answers need a bot token (Discord answers with the interaction's own token;
# the generic webhook posts to the message's replyTo).
_BOT_TOKENS = {"slack": "BATON_SLACK_BOT_TOKEN", "telegram": "BATON_TELEGRAM_BOT_TOKEN"}


def startup_warnings(config: Any, store: str | None) -> list[str]:
    """What would make the webhook take messages and never answer: said at start, not later."""
    from events.sources.chat.config import read_secret

    warnings = []
    for platform in config.configured():
        token = _BOT_TOKENS.get(platform)
        if token and not read_secret(os.environ, token):
            warnings.append(
                f"{platform} messages are accepted but {token} is not set: "
                "answers cannot be posted back"
            )
    if store is None:
        return warnings  # a broker's deployment runs the messages: its store is not ours
    from functions.ports import NotFound
    from functions.serve.settings import build_store

    namespace = config.namespace or "default"
    agents = {config.default_agent, *config.platform_agents.values(), *config.selectable}
    try:
        target = build_store(store)
        for agent in sorted(a for a in agents if a):
            try:
                target.get("Agent", namespace, agent)
            except NotFound:
                warnings.append(
                    f"Agent {agent!r} does not exist in namespace {namespace}: its runs wait "
                    "Pending until it is applied"
                )
    except Exception as exc:  # a store that does not answer is a warning here, not a crash
        warnings.append(f"store {store} not readable: {exc}")
    return warnings


def register(sub: Any) -> None:
    """Add ``webhook`` and ``chat-send`` to the CLI."""
    p = sub.add_parser("webhook", help="serve the chat webhooks; messages run embedded")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)))
    p.add_argument("--host", default=os.environ.get("BATON_BIND_HOST", "127.0.0.1"))
    p.add_argument("--agent", help="the Agent that answers (env BATON_CHAT_AGENT)")
    p.add_argument("--threads", type=int, default=int(os.environ.get("BATON_THREADS", "16")))
    p.add_argument("--store", help="sqlite:///path (env BATON_STORE; default --db)")
    p.add_argument("--sink", help="publish to this broker URL instead of running embedded")
    p.set_defaults(func=cmd_webhook)
    p = sub.add_parser("chat-send", help="send a signed message to a generic chat webhook")
    p.add_argument("text", help="the message")
    p.add_argument("--thread", default="cli", help="the chat thread (default cli)")
    p.add_argument("--agent", help="the Agent that answers (default: the webhook's)")
    p.add_argument("--reply-to", help="URL the answer is POSTed to")
    p.add_argument("--id", help="message id (default random; reuse it to re-send)")
    p.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}/webhook")
    p.set_defaults(func=cmd_chat_send)
