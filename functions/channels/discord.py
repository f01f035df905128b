"""Discord: the answer replaces the deferred "thinking..." response of the interaction.

``PATCH /webhooks/{application id}/{interaction token}/messages/@original``: an edit,
so a redelivered answer edits the same message instead of posting a second one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from events.errors import PermanentError
from functions.channels.transport import DEFAULT_TIMEOUT, request_json, shorten

__all__ = ["DiscordChannel"]

LIMIT: Final = 2000
_HINTS: Final = {
    401: "the interaction token was refused",
    403: "the application may not post in this channel",
    404: "the interaction expired (Discord keeps its token 15 minutes) or was deleted",
}


# Snowflake ids and interaction tokens: one URL path segment each.
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_.\-]{1,1000}")


class DiscordChannel:
    """Edits interaction responses through Discord's API at ``base_url`` (no bot token needed)."""

    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"DiscordChannel({self._base!r})"

    def post(self, routing: Mapping[str, Any], text: str, idempotency_key: str) -> None:
        """Replace the interaction's deferred response with ``text``."""
        app, token = str(routing.get("account", "")), str(routing.get("replyTo", ""))
        if not app or not token:
            raise PermanentError(
                "Discord routing needs the application id (account) and interaction token "
                "(replyTo)",
                reason="BadRouting",
            )
        if not all(_SEGMENT.fullmatch(part) and set(part) != {"."} for part in (app, token)):
            # A run's routing is written by whoever requested the run: it must not steer the
            # request elsewhere in Discord's API (ids are snowflakes; dot segments resolve).
            raise PermanentError(
                "Discord routing: the application id and the interaction token must each be "
                "one path segment (letters, digits, '-', '_', '.')",
                reason="BadRouting",
            )
        url = f"{self._base}/webhooks/{quote(app, safe='')}/{quote(token, safe='')}"
        label = f"discord interaction response in channel {routing.get('thread', '?')}"
        answer = request_json(
            "PATCH",
            url + "/messages/@original",
            {"content": shorten(text, LIMIT), "allowed_mentions": {"parse": []}},
            label=label,
            timeout=self._timeout,
        )
        if answer.ok:
            return
        body = answer.body if isinstance(answer.body, dict) else {}
        detail = str(body.get("message") or f"HTTP {answer.status}")
        hint = _HINTS.get(answer.status, "Discord refused the message")
        raise PermanentError(f"{label}: {detail}: {hint}", reason="ChannelRefused")
