"""The shared half of every chat source: picking the agent, building ``dev.baton.channel.message``.

The event's source is ``/baton/chat/<platform>[/<account>]`` and its id comes from the
platform's own message id, so a platform that re-sends a message (Slack and Telegram
retry until acknowledged) converges on one run: route names the run from source + id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from events import types
from events.catalogue import validate_data
from events.codecs.bounded import loads
from events.envelope import CloudEvent, make_event
from events.errors import MalformedEvent
from events.sources.chat.config import ChatConfig

__all__ = ["Inbound", "channel_message", "json_body", "pick_agent"]

SOURCE_PREFIX: Final = "/baton/chat/"
MAX_TASK: Final = 100_000
# "/name rest" or Telegram's "/name@botname rest".
_PREFIX: Final = re.compile(r"^/([a-z0-9]([-a-z0-9]*[a-z0-9])?)(@\S+)?(\s+|$)")


@dataclass(frozen=True)
class Inbound:
    """What a webhook request amounts to: an event to publish and/or the answer the platform wants.

    ``ignored`` says why nothing is published (a bot's own message, an edit, an empty mention).
    """

    event: CloudEvent | None = None
    answer: Mapping[str, Any] | None = None
    ignored: str = ""


def json_body(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or ``MalformedEvent`` (400) saying why not."""
    doc = loads(body, "the body")
    if not isinstance(doc, dict):
        raise MalformedEvent("the body must be a JSON object")
    return doc


def pick_agent(config: ChatConfig, platform: str, text: str) -> tuple[str, str]:
    """(agent, task): a leading ``/name`` picks a selectable agent; else the platform's default."""
    match = _PREFIX.match(text)
    if match and match.group(1) in config.selectable:
        return match.group(1), text[match.end() :].strip()
    return config.agent_for(platform), text.strip()


def channel_message(
    config: ChatConfig,
    platform: str,
    message_id: str,
    agent: str,
    task: str,
    routing: Mapping[str, str],
) -> CloudEvent:
    """The ``dev.baton.channel.message`` for one chat message (checked against its schema)."""
    if len(task) > MAX_TASK:
        # Checked here so the schema's error (which quotes the value) never echoes a prompt.
        raise MalformedEvent(f"the message has {len(task)} characters; the limit is {MAX_TASK}")
    account = routing.get("account", "")
    data: dict[str, Any] = {
        "agent": agent,
        "task": task,
        "routing": {k: v for k, v in routing.items() if v},
    }
    if config.namespace:
        data["namespace"] = config.namespace
    if config.mode == "server":  # the thread is a session: route hands later messages to it
        data["mode"] = "server"
        if config.idle_ttl:
            data["idleTTL"] = config.idle_ttl
    validate_data(types.CHANNEL_MESSAGE, data)
    source = SOURCE_PREFIX + platform + (f"/{account}" if account else "")
    return make_event(
        types.CHANNEL_MESSAGE, source, data, id_=message_id, subject=routing.get("thread")
    )
