"""Chat platforms as ``ports.Channels``: one adapter per platform behind one dispatcher.

Built from the environment by ``ChatChannels.from_env`` (when a process builds its
Deps, never at import). Base URLs are configurable so tests point them at fakes:

``BATON_SLACK_BOT_TOKEN``     bot token (``xoxb-...``; or ``_FILE``, a mounted Secret)
``BATON_SLACK_API_URL``       default https://slack.com/api
``BATON_DISCORD_API_URL``     default https://discord.com/api/v10
``BATON_TELEGRAM_BOT_TOKEN``  bot token (or ``_FILE``)
``BATON_TELEGRAM_API_URL``    default https://api.telegram.org
``BATON_WEBHOOK_REPLY_SECRET``  signs the generic webhook's answers (or ``_FILE``); never the
                              inbound ``BATON_WEBHOOK_SECRET``
``BATON_WEBHOOK_REPLY_URLS``  URL prefixes an answer may be POSTed to (see the chat config)
``BATON_CHANNEL_TIMEOUT``     seconds per post (default 10)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from events.errors import PermanentError
from events.sources.chat.config import read_secret, reply_urls
from functions.channels.discord import DiscordChannel
from functions.channels.generic import WebhookChannel
from functions.channels.slack import SlackChannel
from functions.channels.telegram import TelegramChannel
from functions.ports import Channels

__all__ = ["ChatChannels"]

SLACK_API: Final = "https://slack.com/api"
DISCORD_API: Final = "https://discord.com/api/v10"
TELEGRAM_API: Final = "https://api.telegram.org"


class ChatChannels:
    """Dispatches a post to the adapter ``routing.channel`` names."""

    def __init__(self, adapters: Mapping[str, Channels]) -> None:
        self.adapters = dict(adapters)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ChatChannels:
        """Every platform, configured from ``env`` (default ``os.environ``)."""
        env = os.environ if env is None else env
        timeout = float(env.get("BATON_CHANNEL_TIMEOUT") or 10.0)
        return cls(
            {
                "slack": SlackChannel(
                    read_secret(env, "BATON_SLACK_BOT_TOKEN"),
                    env.get("BATON_SLACK_API_URL") or SLACK_API,
                    timeout,
                ),
                "discord": DiscordChannel(env.get("BATON_DISCORD_API_URL") or DISCORD_API, timeout),
                "telegram": TelegramChannel(
                    read_secret(env, "BATON_TELEGRAM_BOT_TOKEN"),
                    env.get("BATON_TELEGRAM_API_URL") or TELEGRAM_API,
                    timeout,
                ),
                "webhook": WebhookChannel(
                    read_secret(env, "BATON_WEBHOOK_REPLY_SECRET"), reply_urls(env), timeout
                ),
            }
        )

    def post(self, routing: Mapping[str, Any], text: str, idempotency_key: str) -> None:
        """Post ``text`` to the thread ``routing`` names."""
        channel = str(routing.get("channel", ""))
        adapter = self.adapters.get(channel)
        if adapter is None:
            known = ", ".join(sorted(self.adapters))
            raise PermanentError(
                f"no chat channel {channel!r} (known: {known})", reason="UnknownChannel"
            )
        adapter.post(routing, text, idempotency_key)
