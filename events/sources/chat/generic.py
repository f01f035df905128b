"""The generic signed webhook -> ``dev.baton.channel.message``.

``X-Baton-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with the
shared secret. Body: ``{"text": ..., "thread": ..., "replyTo": ..., "agent": ..., "id": ...}``;
``text`` and ``thread`` are required. A sender holds the secret, so it may name any
agent (default: the configured one). The event id is ``id`` when given, else a hash
of the body: a byte-identical retry converges on one run (send an ``id`` to ask the
same question twice). ``replyTo`` must fall under ``BATON_WEBHOOK_REPLY_URLS`` (400
otherwise); the answer is POSTed there, signed with the reply secret
(``BATON_WEBHOOK_REPLY_SECRET``), never with the inbound one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Final

from events.errors import MalformedEvent
from events.sources.chat.config import ChatConfig, reply_allowed
from events.sources.chat.message import Inbound, channel_message, json_body, pick_agent
from events.sources.chat.signatures import verify_baton

__all__ = ["SIGNATURE_HEADER", "parse"]

PLATFORM: Final = "webhook"
SIGNATURE_HEADER: Final = "X-Baton-Signature"


def _string(doc: Mapping[str, object], name: str, required: bool) -> str:
    value = doc.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise MalformedEvent(f"{name!r} must be a non-empty string")
    return value


def parse(headers: Mapping[str, str], body: bytes, config: ChatConfig, now: float) -> Inbound:
    """Verify and read one generic webhook request."""
    verify_baton(config.webhook_secret, headers.get(SIGNATURE_HEADER), body, now)
    doc = json_body(body)
    unknown = set(doc) - {"agent", "text", "thread", "replyTo", "id"}
    if unknown:
        raise MalformedEvent(
            f"unknown fields {sorted(unknown)}; allowed: agent, text, thread, replyTo, id"
        )
    text = _string(doc, "text", required=True)
    thread = _string(doc, "thread", required=True)
    reply_to = _string(doc, "replyTo", required=False)
    if reply_to and not reply_to.startswith(("http://", "https://")):
        raise MalformedEvent("'replyTo' must be an http(s) URL")
    if reply_to and not reply_allowed(reply_to, config.reply_urls):
        raise MalformedEvent(
            "'replyTo' is not under an allowed URL (BATON_WEBHOOK_REPLY_URLS lists them)"
        )
    agent = _string(doc, "agent", required=False)
    if agent:
        task = text.strip()
    else:
        agent, task = pick_agent(config, PLATFORM, text)
    message_id = _string(doc, "id", required=False) or hashlib.sha256(body).hexdigest()
    routing = {"channel": PLATFORM, "thread": thread, "replyTo": reply_to}
    return Inbound(channel_message(config, PLATFORM, message_id, agent, task, routing))
