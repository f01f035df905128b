"""Slack Events API -> ``dev.baton.channel.message``.

Answers ``url_verification`` with its challenge. Takes ``app_mention`` events anywhere and
``message`` events in direct messages (``channel_type: im``), so a mention in a channel
the bot also reads is not answered twice; bot messages, our own and edits (any
``subtype``) are ignored. The thread is ``<channel id>/<thread_ts or ts>``; the event id
is ``<channel id>/<ts>``, the same for Slack's retries and for the ``message`` and
``app_mention`` events of one message. The team is the routing account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from events.errors import MalformedEvent
from events.sources.chat.config import ChatConfig
from events.sources.chat.message import Inbound, channel_message, json_body, pick_agent
from events.sources.chat.signatures import verify_slack

__all__ = ["parse"]

PLATFORM: Final = "slack"
_MENTION: Final = re.compile(r"^(\s*<@[A-Z0-9]+(\|[^>]*)?>)+\s*")


def _field(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"event.{name} is missing or not a string")
    return value


def parse(headers: Mapping[str, str], body: bytes, config: ChatConfig, now: float) -> Inbound:
    """Verify and read one Slack Events API request."""
    verify_slack(
        config.slack_signing_secret,
        headers.get("X-Slack-Signature"),
        headers.get("X-Slack-Request-Timestamp"),
        body,
        now,
    )
    doc = json_body(body)
    kind = doc.get("type")
    if kind == "url_verification":
        challenge = doc.get("challenge")
        if not isinstance(challenge, str):
            raise MalformedEvent("url_verification without a challenge string")
        return Inbound(answer={"challenge": challenge})
    if kind != "event_callback":
        return Inbound(ignored=f"Slack request type {kind!r}")
    event = doc.get("event")
    if not isinstance(event, dict):
        raise MalformedEvent("event_callback without an event object")
    etype = event.get("type")
    if etype == "message" and event.get("channel_type") != "im":
        return Inbound(ignored="a channel message without a mention (app_mention covers those)")
    if etype not in ("app_mention", "message"):
        return Inbound(ignored=f"Slack event type {etype!r}")
    if event.get("bot_id") or event.get("subtype"):
        return Inbound(ignored=f"a bot message or an edit (subtype {event.get('subtype')!r})")
    ours = {a.get("user_id") for a in doc.get("authorizations") or [] if isinstance(a, dict)}
    if event.get("user") in ours:
        return Inbound(ignored="our own message")
    channel, ts = _field(event, "channel"), _field(event, "ts")
    text = _MENTION.sub("", str(event.get("text") or ""), count=1)
    agent, task = pick_agent(config, PLATFORM, text)
    if not task:
        return Inbound(ignored="a mention without a question")
    thread = str(event.get("thread_ts") or ts)
    team = str(doc.get("team_id") or event.get("team") or "")
    routing = {"channel": PLATFORM, "account": team, "thread": f"{channel}/{thread}"}
    return Inbound(channel_message(config, PLATFORM, f"{channel}/{ts}", agent, task, routing))
