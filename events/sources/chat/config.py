"""What the chat webhook reads from its environment (when the app is built, never at import).

Secrets come from the variable itself or, Kubernetes-style, from a file named by
``<NAME>_FILE`` (a mounted Secret). They are kept out of ``repr`` and never logged.

``BATON_CHAT_AGENT``             the Agent that answers when nothing else picks one (required)
``BATON_<PLATFORM>_AGENT``       the default for one platform (SLACK, DISCORD, TELEGRAM, WEBHOOK)
``BATON_CHAT_AGENTS``            comma-separated Agents a message may pick with a ``/name`` prefix
``BATON_CHAT_NAMESPACE``         where the runs are created (default: ``default``)
``BATON_CHAT_MODE``              ``server``: a thread is one session (a Serving run answers every
                                 message in it); ``task`` (default): one run per message
``BATON_CHAT_IDLE_TTL``          server mode: a thread's session ends after this long without
                                 a message (a duration, default 30m)
``BATON_SLACK_SIGNING_SECRET``   Slack app's signing secret
``BATON_DISCORD_PUBLIC_KEY``     Discord application's public key (hex)
``BATON_TELEGRAM_SECRET_TOKEN``  the ``secret_token`` given to Telegram's setWebhook
``BATON_WEBHOOK_SECRET``         the generic webhook's shared HMAC secret (inbound requests only)
``BATON_WEBHOOK_REPLY_URLS``     comma-separated URL prefixes a generic message's ``replyTo`` may
                                 name (``https://hooks.example.com/baton``; an entry without a
                                 port allows any port of that host); empty: no ``replyTo``
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from events.url_prefixes import parse_list, url_allowed

__all__ = ["PLATFORMS", "ChatConfig", "read_secret", "reply_allowed", "reply_urls"]

PLATFORMS: Final = ("slack", "discord", "telegram", "webhook")


def read_secret(env: Mapping[str, str], name: str) -> str:
    """``env[name]``, else the stripped contents of the file ``env[name + "_FILE"]``, else ""."""
    value = env.get(name, "")
    if value:
        return value.strip()
    path = env.get(f"{name}_FILE", "")
    if not path:
        return ""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        # Name the file, never its contents.
        raise ValueError(f"{name}_FILE={path}: cannot read the secret: {exc.strerror}") from exc


def reply_urls(env: Mapping[str, str]) -> tuple[str, ...]:
    """The ``BATON_WEBHOOK_REPLY_URLS`` allow-list; ValueError naming an entry that is no URL."""
    try:
        return parse_list(env.get("BATON_WEBHOOK_REPLY_URLS", ""))
    except ValueError as exc:
        raise ValueError(f"BATON_WEBHOOK_REPLY_URLS: {exc}") from None


def reply_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """True when a ``replyTo`` falls under the allow-list (``events.url_prefixes``)."""
    return url_allowed(url, allowed)


@dataclass(frozen=True)
class ChatConfig:
    """Which agent answers, and the secrets that prove a request came from its platform."""

    default_agent: str = ""
    platform_agents: Mapping[str, str] = field(default_factory=dict)
    selectable: frozenset[str] = frozenset()
    namespace: str | None = None
    mode: str = "task"
    idle_ttl: str = ""
    slack_signing_secret: str = field(default="", repr=False)
    discord_public_key: str = field(default="", repr=False)
    telegram_secret_token: str = field(default="", repr=False)
    webhook_secret: str = field(default="", repr=False)
    reply_urls: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ChatConfig:
        """The configuration in ``env`` (default ``os.environ``)."""
        env = os.environ if env is None else env
        selectable = {a.strip() for a in env.get("BATON_CHAT_AGENTS", "").split(",") if a.strip()}
        return cls(
            default_agent=env.get("BATON_CHAT_AGENT", "").strip(),
            platform_agents={
                p: env[f"BATON_{p.upper()}_AGENT"].strip()
                for p in PLATFORMS
                if env.get(f"BATON_{p.upper()}_AGENT", "").strip()
            },
            selectable=frozenset(selectable),
            namespace=env.get("BATON_CHAT_NAMESPACE") or None,
            mode=env.get("BATON_CHAT_MODE", "").strip() or "task",
            idle_ttl=env.get("BATON_CHAT_IDLE_TTL", "").strip(),
            slack_signing_secret=read_secret(env, "BATON_SLACK_SIGNING_SECRET"),
            discord_public_key=read_secret(env, "BATON_DISCORD_PUBLIC_KEY"),
            telegram_secret_token=read_secret(env, "BATON_TELEGRAM_SECRET_TOKEN"),
            webhook_secret=read_secret(env, "BATON_WEBHOOK_SECRET"),
            reply_urls=reply_urls(env),
        )

    def agent_for(self, platform: str) -> str:
        """The agent that answers on ``platform`` when the message picks none."""
        return self.platform_agents.get(platform) or self.default_agent

    def secret_for(self, platform: str) -> str:
        """The secret that verifies ``platform``'s requests ("" when it is not configured)."""
        return {
            "slack": self.slack_signing_secret,
            "discord": self.discord_public_key,
            "telegram": self.telegram_secret_token,
            "webhook": self.webhook_secret,
        }[platform]

    def configured(self) -> list[str]:
        """The platforms whose secret is set (the others answer 404)."""
        return [p for p in PLATFORMS if self.secret_for(p)]
