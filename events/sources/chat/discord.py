"""Discord interactions endpoint -> ``dev.baton.channel.message``.

Verified by ``X-Signature-Ed25519`` over ``X-Signature-Timestamp`` + body with the
application's public key. PING (type 1) is answered PONG. An application command
(type 2) is answered "deferred" (type 5: Discord shows "thinking..." and the answer
replaces it later through the interaction token, which is valid for 15 minutes).

The agent: the command's ``agent`` option, else the command's own name, when either
is a selectable agent; else the default. The question: the ``text``/``prompt``/
``question``/``task`` option, else the first string option. The thread is the
channel; ``replyTo`` carries the interaction token (a credential for 15 minutes,
kept in the run's spec: anyone who can read the AgentRun can post that answer) and
the account the application id. The event id is the interaction id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from events.errors import MalformedEvent
from events.sources.chat.config import ChatConfig
from events.sources.chat.message import Inbound, channel_message, json_body, pick_agent
from events.sources.chat.signatures import verify_discord

__all__ = ["DEFERRED", "PONG", "parse"]

PLATFORM: Final = "discord"
PING: Final = 1
APPLICATION_COMMAND: Final = 2
PONG: Final = {"type": 1}
DEFERRED: Final = {"type": 5}
_STRING_OPTION: Final = 3
_TEXT_OPTIONS: Final = ("text", "prompt", "question", "task")


def _options(data: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for option in data.get("options") or []:
        if isinstance(option, dict) and option.get("type") == _STRING_OPTION:
            found.setdefault(str(option.get("name")), str(option.get("value") or ""))
    return found


def _text_and_agent(config: ChatConfig, data: Mapping[str, Any]) -> tuple[str, str]:
    options = _options(data)
    text = next((options[n] for n in _TEXT_OPTIONS if n in options), None)
    if text is None:
        text = next((v for k, v in options.items() if k != "agent"), "")
    for candidate in (options.get("agent", ""), str(data.get("name") or "")):
        if candidate in config.selectable:
            return candidate, text.strip()
    return pick_agent(config, PLATFORM, text)


def _required(doc: Mapping[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"interaction {name} is missing")
    return value


def parse(headers: Mapping[str, str], body: bytes, config: ChatConfig, now: float) -> Inbound:
    """Verify and read one Discord interaction."""
    verify_discord(
        config.discord_public_key,
        headers.get("X-Signature-Ed25519"),
        headers.get("X-Signature-Timestamp"),
        body,
        now,
    )
    doc = json_body(body)
    kind = doc.get("type")
    if kind == PING:
        return Inbound(answer=PONG)
    if kind != APPLICATION_COMMAND:
        raise MalformedEvent(f"interaction type {kind!r} is not handled (only PING and commands)")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise MalformedEvent("an application command without data")
    agent, task = _text_and_agent(config, data)
    if not task:
        raise MalformedEvent("the command has no text option to ask the agent")
    routing = {
        "channel": PLATFORM,
        "account": _required(doc, "application_id"),
        "thread": _required(doc, "channel_id"),
        "replyTo": _required(doc, "token"),
    }
    event = channel_message(config, PLATFORM, _required(doc, "id"), agent, task, routing)
    return Inbound(event, answer=DEFERRED)
