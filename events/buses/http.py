"""Posting CloudEvents to an HTTP sink: Knative's ``K_SINK``, a broker's ingress, ``baton serve``.

Binary mode, one event per request, a keep-alive connection per thread. The answer is
mapped onto the one error taxonomy: 2xx is delivered; 429 and 5xx (and a connection
that fails or times out) are ``TransientError`` (with ``Retry-After`` as the delay);
any other status is ``PermanentError`` naming the status and the start of the body.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from cloudevents.core.base import BaseCloudEvent

from events.codecs.http import to_binary, to_structured
from events.errors import PermanentError, TransientError

__all__ = ["DEFAULT_TIMEOUT", "HTTPSink"]

DEFAULT_TIMEOUT: Final = 10.0
_BODY_SHOWN: Final = 300


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: leave the delay to the caller's backoff


class HTTPSink:
    """POSTs events to ``url``; ``publish`` raises Transient/PermanentError on failure."""

    def __init__(
        self, url: str, *, timeout: float = DEFAULT_TIMEOUT, structured: bool = False
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"sink URL must be http(s)://host[:port]/path, got {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout
        self._structured = structured
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def publish(self, event: BaseCloudEvent) -> None:
        """Deliver one event; returns when the sink answered 2xx."""
        message = to_structured(event) if self._structured else to_binary(event)
        what = f"POST {self.url} ({event.get_type()} {event.get_id()})"
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", self._path, body=message.body, headers=message.headers)
                response = conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self._drop()
                # A kept-alive connection the server closed while idle: one fresh try.
                if attempt == 1:
                    continue
                raise TransientError(f"{what}: {exc}", reason="SinkUnreachable") from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise TransientError(f"{what}: {exc}", reason="SinkUnreachable") from exc
            if response.getheader("connection", "").lower() == "close":
                self._drop()
            self._raise_for(response.status, response.getheader("retry-after"), body, what)
            return

    @staticmethod
    def _raise_for(status: int, retry_after: str | None, body: bytes, what: str) -> None:
        if 200 <= status < 300:
            return
        shown = body[:_BODY_SHOWN].decode("utf-8", "replace")
        if status == 429 or status >= 500:
            raise TransientError(
                f"{what}: HTTP {status}: {shown}",
                delay=_retry_after(retry_after),
                reason="SinkUnavailable",
            )
        raise PermanentError(f"{what}: HTTP {status}: {shown}", reason="SinkRefused")

    def publish_all(self, events: Iterable[BaseCloudEvent]) -> None:
        """Deliver events in order; the first failure stops and raises."""
        for event in events:
            self.publish(event)

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        self._drop()
