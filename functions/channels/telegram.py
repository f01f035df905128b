"""Telegram: ``sendMessage`` replying to the message (``routing.thread``: ``<chat>[/<topic>]``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from events.errors import PermanentError
from functions.channels.transport import DEFAULT_TIMEOUT, request_json, shorten

__all__ = ["TelegramChannel"]

LIMIT: Final = 4096
_HINTS: Final = {
    401: "BATON_TELEGRAM_BOT_TOKEN is not valid",
    403: "the bot may not write here (blocked by the user, or removed from the group)",
    404: "BATON_TELEGRAM_BOT_TOKEN is not valid",
}


class TelegramChannel:
    """Posts with a bot token to the Bot API at ``base_url``."""

    def __init__(self, token: str, base_url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._token = token
        self._base = base_url.rstrip("/")
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"TelegramChannel({self._base!r})"  # the token is part of the URL: never shown

    def post(self, routing: Mapping[str, Any], text: str, idempotency_key: str) -> None:
        """Reply to the message in its chat (and forum topic); Telegram has no idempotency key."""
        if not self._token:
            raise PermanentError("BATON_TELEGRAM_BOT_TOKEN is not set", reason="NotConfigured")
        chat, _, topic = str(routing.get("thread", "")).partition("/")
        try:
            payload: dict[str, Any] = {"chat_id": int(chat), "text": shorten(text, LIMIT)}
            if topic:
                payload["message_thread_id"] = int(topic)
            if routing.get("replyTo"):
                payload["reply_to_message_id"] = int(routing["replyTo"])
                # The question may be deleted meanwhile: answer in the chat anyway.
                payload["allow_sending_without_reply"] = True
        except ValueError:
            raise PermanentError(
                f"Telegram routing {dict(routing)!r} does not hold numeric ids", reason="BadRouting"
            ) from None
        label = f"telegram sendMessage to chat {chat}"
        answer = request_json(
            "POST",
            f"{self._base}/bot{self._token}/sendMessage",
            payload,
            label=label,
            timeout=self._timeout,
        )
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.ok and body.get("ok"):
            return
        description = str(body.get("description") or f"HTTP {answer.status}")
        hint = _HINTS.get(answer.status, "Telegram refused the message")
        raise PermanentError(f"{label}: {description}: {hint}", reason="ChannelRefused")
