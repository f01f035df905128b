"""Telegram Bot API webhook -> ``dev.baton.channel.message``.

Verified by ``X-Telegram-Bot-Api-Secret-Token`` (the ``secret_token`` of setWebhook).
Takes ``message`` updates with text from people; edits, channel posts, bots and
non-text messages are ignored. The thread is the chat (``<chat id>`` or, in a forum
topic, ``<chat id>/<message_thread_id>``): one conversation per chat or topic. The
answer replies to the message (``replyTo`` is its id). The event id is
``<chat id>/<message id>``, the same for Telegram's redeliveries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from events.errors import MalformedEvent
from events.sources.chat.config import ChatConfig
from events.sources.chat.message import Inbound, channel_message, json_body, pick_agent
from events.sources.chat.signatures import verify_token

__all__ = ["SECRET_HEADER", "parse"]

PLATFORM: Final = "telegram"
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"


def parse(headers: Mapping[str, str], body: bytes, config: ChatConfig, now: float) -> Inbound:
    """Verify and read one Telegram update."""
    verify_token(config.telegram_secret_token, headers.get(SECRET_HEADER), SECRET_HEADER)
    update = json_body(body)
    message = update.get("message")
    if message is None:
        return Inbound(ignored="an update without a new message (an edit, a post, a callback)")
    if not isinstance(message, dict):
        raise MalformedEvent("message must be an object")
    sender = message.get("from") or {}
    if isinstance(sender, dict) and sender.get("is_bot"):
        return Inbound(ignored="a bot's message")
    text = message.get("text")
    if not isinstance(text, str):
        return Inbound(ignored="a message without text")
    chat = message.get("chat")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    message_id = message.get("message_id")
    if not isinstance(chat_id, int) or not isinstance(message_id, int):
        raise MalformedEvent("message.chat.id and message.message_id must be integers")
    agent, task = pick_agent(config, PLATFORM, text)
    if not task:
        return Inbound(ignored="a command without a question")
    topic = message.get("message_thread_id") if message.get("is_topic_message") else None
    thread = f"{chat_id}/{topic}" if isinstance(topic, int) else str(chat_id)
    routing = {"channel": PLATFORM, "thread": thread, "replyTo": str(message_id)}
    return Inbound(
        channel_message(config, PLATFORM, f"{chat_id}/{message_id}", agent, task, routing)
    )
