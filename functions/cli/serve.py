"""``baton serve`` (functions over HTTP under gunicorn) and ``baton publish`` (send an event)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

__all__ = ["register"]

DEFAULT_PORT = 8080


def _gunicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    from functions.serve import gunicorn_conf

    options = {
        name: getattr(gunicorn_conf, name)
        for name in dir(gunicorn_conf)
        if not name.startswith("_") and name not in ("os", "Any", "annotations")
    }
    options["bind"] = f"{args.host}:{args.port}"
    options["workers"] = 1 if args.function is None else args.workers
    options["threads"] = args.threads
    return options


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _address_in_use(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in use, not an address here), else None.

    Checked before gunicorn starts: its arbiter would log an error a second for 5 s first.
    """
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return str(exc)
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve one function (or all of them, embedded) on $PORT under gunicorn."""
    from gunicorn.app.base import BaseApplication

    from functions import chain
    from functions.serve.settings import Settings, function_name

    env = Settings.from_env()
    function = function_name(args.function) if args.function is not None else env.function
    known = [*chain.FUNCTIONS, "console", "webhook"]
    if function is not None and function not in known:
        name = args.function if args.function is not None else function
        print(f"baton serve: unknown function {name!r}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    store = args.store or os.environ.get("BATON_STORE") or f"sqlite:///{args.db}"
    settings = Settings(
        function=function,
        store=store,
        sink=env.sink,
        max_body=env.max_body,
        sink_timeout=env.sink_timeout,
        offline_models=env.offline_models,
        ingress_token=env.ingress_token,
    )
    # The webhook authenticates every request by its platform's signature; everything else
    # takes events from whoever can reach it, so off loopback it needs a bearer token.
    if function != "webhook" and not _loopback(args.host) and not settings.ingress_token:
        print(
            f"baton serve: {args.host} is not a loopback address: set BATON_INGRESS_TOKEN "
            "(requests then need Authorization: Bearer <token>)",
            file=sys.stderr,
        )
        return 2
    taken = _address_in_use(args.host, args.port)
    if taken:
        print(f"baton serve: cannot listen on {args.host}:{args.port}: {taken}", file=sys.stderr)
        return 1
    args.function = function
    os.environ["BATON_BIND_HOST"] = args.host  # the console allows actions on loopback only
    options = _gunicorn_options(args)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings and value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            # Runs in the worker after fork (preload off): the store is built there.
            from functions.serve.app import app_for

            try:
                return app_for(settings)
            except RuntimeError as exc:  # e.g. another baton runtime holds the store
                print(f"baton serve: {exc}", file=sys.stderr, flush=True)
                sys.exit(3)  # gunicorn's worker boot error: the arbiter stops, not retries

    what = settings.function or "every function (embedded)"
    print(f"baton: serving {what} on http://{options['bind']}/ (store {store})", file=sys.stderr)
    if settings.ingress_token and function != "webhook":
        print("baton: POST / needs Authorization: Bearer $BATON_INGRESS_TOKEN", file=sys.stderr)
    Server().run()
    return 0


def _event_from(args: argparse.Namespace) -> Any:
    from events.envelope import make_event
    from functions.cli.yaml_safety import load_documents

    try:
        if args.data is not None:
            doc: Any = json.loads(args.data)
        elif args.file:
            docs = load_documents(Path(args.file).read_bytes())
            doc = docs[0] if docs else None
        else:
            raise SystemExit("baton publish: give a FILE or --data JSON")
    except (ValueError, OSError) as exc:  # bad JSON, unsafe YAML (a ValueError), unreadable
        what = "--data" if args.data is not None else args.file
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise SystemExit(f"baton publish: {what}: {detail}") from None
    from cloudevents.core.exceptions import BaseCloudEventException

    if not isinstance(doc, dict):
        raise SystemExit("baton publish: the event data must be a JSON object")
    try:
        if isinstance(doc, dict) and "specversion" in doc:  # a whole event in structured form
            from cloudevents.core.v1.event import CloudEvent

            attributes = {k: v for k, v in doc.items() if k != "data"}
            attributes.setdefault("datacontenttype", "application/json")
            if args.id:
                attributes["id"] = args.id
            return CloudEvent(attributes, doc.get("data"))
        return make_event(args.type, args.source, doc, id_=args.id or str(uuid.uuid4()))
    except (BaseCloudEventException, ValueError, TypeError) as exc:
        raise SystemExit(f"baton publish: not a CloudEvent: {exc}") from None


def cmd_publish(args: argparse.Namespace) -> int:
    """POST one CloudEvent (binary mode) to a function, ``baton serve`` or a broker."""
    from events.buses.http import HTTPSink
    from events.errors import BatonError

    event = _event_from(args)
    url = args.url or f"http://127.0.0.1:{os.environ.get('PORT', DEFAULT_PORT)}/"
    try:
        HTTPSink(url, timeout=args.timeout).publish(event)
    except BatonError as exc:
        print(f"baton: {exc.reason}: {exc.message}", file=sys.stderr)
        return 1
    print(f"{event.get_type()} {event.get_id()} -> {url}")
    return 0


def register(sub: Any) -> None:
    """Add ``serve`` and ``publish`` to the CLI."""
    p = sub.add_parser("serve", help="serve a function (or every function) over HTTP")
    p.add_argument(
        "--function",
        help="the function to serve, e.g. call-llm (env BATON_FUNCTION); none: the embedded server",
    )
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)))
    # Loopback unless asked: a laptop's `baton serve` is not for the network. The image's
    # gunicorn config (functions/serve/gunicorn_conf.py) binds 0.0.0.0:$PORT in a container.
    p.add_argument(
        "--host",
        default=os.environ.get("BATON_BIND_HOST", "127.0.0.1"),
        help="address to listen on (default 127.0.0.1; env BATON_BIND_HOST)",
    )
    p.add_argument("--workers", type=int, default=int(os.environ.get("BATON_WORKERS", "1")))
    p.add_argument("--threads", type=int, default=int(os.environ.get("BATON_THREADS", "32")))
    p.add_argument(
        "--store",
        default=argparse.SUPPRESS,  # the global --store stays when this one is not given
        help="sqlite:///path or kubernetes (env BATON_STORE; default --db)",
    )
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("publish", help="send one CloudEvent to baton serve or a broker")
    p.add_argument("file", nargs="?", help="JSON/YAML file: the event's data, or a whole event")
    p.add_argument("--data", help="the event's data as JSON")
    p.add_argument("--type", default="dev.baton.run.requested")
    p.add_argument("--source", default="/baton/cli")
    p.add_argument("--id", help="the event id (default: random; reuse it to re-send)")
    p.add_argument("--url", help="where to POST (default http://127.0.0.1:$PORT/)")
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(func=cmd_publish)
