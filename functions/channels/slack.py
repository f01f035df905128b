"""Slack: ``chat.postMessage`` in the thread (``routing.thread``: ``<channel id>/<thread ts>``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from events.errors import PermanentError, TransientError
from functions.channels.transport import DEFAULT_TIMEOUT, request_json, retry_after, shorten

__all__ = ["SlackChannel"]

LIMIT: Final = 39_000  # Slack truncates text past 40,000 characters
_TRANSIENT: Final = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_HINTS: Final = {
    "channel_not_found": "the bot cannot see this channel: invite it, or check the app's scopes",
    "not_in_channel": "the bot is not in this channel: invite it (/invite @bot)",
    "is_archived": "the channel is archived",
    "invalid_auth": "BATON_SLACK_BOT_TOKEN is not valid for this workspace",
    "not_authed": "BATON_SLACK_BOT_TOKEN is not set",
    "token_revoked": "BATON_SLACK_BOT_TOKEN was revoked: reinstall the app",
    "account_inactive": "the bot's account is deactivated: reinstall the app",
    "missing_scope": "the Slack app needs the chat:write scope",
}


class SlackChannel:
    """Posts with a bot token (``xoxb-...``) to the Web API at ``base_url``."""

    def __init__(self, token: str, base_url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._token = token
        self._url = base_url.rstrip("/") + "/chat.postMessage"
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SlackChannel({self._url!r})"

    def post(self, routing: Mapping[str, Any], text: str, idempotency_key: str) -> None:
        """Reply in the thread; Slack has no idempotency key (deliver's record stands in)."""
        if not self._token:
            raise PermanentError("BATON_SLACK_BOT_TOKEN is not set", reason="NotConfigured")
        channel, _, thread_ts = str(routing.get("thread", "")).partition("/")
        if not channel or not thread_ts:
            raise PermanentError(
                f"Slack thread {routing.get('thread')!r} is not <channel id>/<ts>",
                reason="BadRouting",
            )
        payload = {"channel": channel, "thread_ts": thread_ts, "text": shorten(text, LIMIT)}
        label = f"slack chat.postMessage to {channel}"
        answer = request_json(
            "POST",
            self._url,
            payload,
            label=label,
            headers={"authorization": f"Bearer {self._token}"},
            timeout=self._timeout,
        )
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.ok and body.get("ok"):
            return
        error = str(body.get("error") or f"HTTP {answer.status}")
        if error in _TRANSIENT:
            delay = retry_after(answer.headers.get("retry-after"))
            raise TransientError(f"{label}: {error}", delay=delay, reason="ChannelUnavailable")
        hint = _HINTS.get(error, "Slack refused the message")
        raise PermanentError(f"{label}: {error}: {hint}", reason="ChannelRefused")
