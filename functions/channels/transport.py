"""One JSON request to a chat platform, its answer mapped onto the error taxonomy.

429 and 5xx (and a connection that fails) are ``TransientError`` with the platform's
``Retry-After`` as the delay; other non-2xx answers are left to the adapter, which
knows what the platform's error means for a person. Errors name the request by a
label the adapter gives (never the URL: Telegram's carries the bot token).
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from events.errors import TransientError

__all__ = ["DEFAULT_TIMEOUT", "Answer", "request_json", "retry_after", "shorten"]

DEFAULT_TIMEOUT: Final = 10.0
_SHOWN: Final = 200


@dataclass(frozen=True)
class Answer:
    """A platform's answer: status, lower-cased headers and the body (JSON when it parses)."""

    status: int
    headers: dict[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status < 300


def retry_after(value: Any) -> float | None:
    """Seconds from a ``Retry-After`` header or a JSON ``retry_after`` (None when absent/odd)."""
    try:
        return max(0.0, float(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None  # an HTTP date: the bus's own backoff decides


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying so at the end."""
    if len(text) <= limit:
        return text
    note = "\n… (answer truncated)"
    return text[: limit - len(note)] + note


def request_json(
    method: str,
    url: str,
    payload: Any,
    *,
    label: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Answer:
    """Send ``payload`` as JSON (or ``body`` as is); 429/5xx/connection errors raise transient."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
    conn = cls(parts.hostname or "", parts.port or (443 if https else 80), timeout=timeout)
    data = body if body is not None else json.dumps(payload).encode()
    sent = {"content-type": "application/json; charset=utf-8", **(headers or {})}
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        raw = response.read()
        got = {k.lower(): v for k, v in response.getheaders()}
    except (OSError, http.client.HTTPException) as exc:
        raise TransientError(
            f"{label}: {type(exc).__name__}: {exc}", reason="ChannelUnreachable"
        ) from exc
    finally:
        conn.close()
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw[:_SHOWN].decode("utf-8", "replace")
    answer = Answer(response.status, got, parsed)
    if answer.status == 429 or answer.status >= 500:
        hint = parsed.get("retry_after") if isinstance(parsed, dict) else None
        if hint is None and isinstance(parsed, dict):
            hint = (parsed.get("parameters") or {}).get("retry_after")  # Telegram
        delay = retry_after(got.get("retry-after")) or retry_after(hint)
        what = "rate limited" if answer.status == 429 else "unavailable"
        raise TransientError(
            f"{label}: {what} (HTTP {answer.status})", delay=delay, reason="ChannelUnavailable"
        )
    return answer
