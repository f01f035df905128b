"""Chat webhooks in: verify each platform's request and turn it into ``dev.baton.channel.message``.

One module per platform (``slack``, ``discord``, ``telegram``, ``generic``), each with
``parse(headers, body, config, now) -> Inbound``; ``signatures`` holds the checks,
``message`` the shared event building, ``config`` the environment. No HTTP server here:
``functions.serve.webhook`` serves these parsers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from events.sources.chat import discord, generic, slack, telegram
from events.sources.chat.config import PLATFORMS, ChatConfig
from events.sources.chat.message import Inbound
from events.sources.chat.signatures import SignatureError

__all__ = ["PARSERS", "PLATFORMS", "ChatConfig", "Inbound", "Parser", "SignatureError"]

Parser = Callable[[Mapping[str, str], bytes, ChatConfig, float], Inbound]

PARSERS: Final[Mapping[str, Parser]] = {
    "slack": slack.parse,
    "discord": discord.parse,
    "telegram": telegram.parse,
    "webhook": generic.parse,
}
