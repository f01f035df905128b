"""The platform adapters against fake platform APIs on loopback: what is sent, how errors map."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from events.errors import PermanentError, TransientError
from events.sources.chat.signatures import SignatureError, verify_baton
from functions.channels import ChatChannels
from tests.chat.conftest import SLACK_BOT_TOKEN, TELEGRAM_BOT_TOKEN, channels_for
from tests.chat.platforms import REPLY_SECRET, WEBHOOK_SECRET, FakePlatform, Recorded
from tests.fixtures.http import free_port

SLACK = {"channel": "slack", "account": "T1", "thread": "C1/1700000000.000100"}
TELEGRAM = {"channel": "telegram", "thread": "42/99", "replyTo": "7"}
DISCORD = {"channel": "discord", "account": "APP1", "thread": "CH1", "replyTo": "tok-1"}


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    """A fake platform API answering OK."""
    with FakePlatform() as fake:
        yield fake


@pytest.fixture
def channels(platform: FakePlatform) -> ChatChannels:
    """Every adapter pointed at the fake."""
    return channels_for(platform, REPLY_SECRET)


def _answer(status: int, doc: Any, headers: dict[str, str] | None = None) -> Any:
    def answer(_req: Recorded) -> tuple[int, dict[str, str], Any]:
        return status, headers or {}, doc

    return answer


def test_slack_posts_in_the_thread_with_the_bot_token(
    platform: FakePlatform, channels: ChatChannels
) -> None:
    """chat.postMessage gets the channel, the thread's ts and the text, with a Bearer token."""
    channels.post(SLACK, "hello", "k1")
    (req,) = platform.requests
    assert (req.method, req.path) == ("POST", "/api/chat.postMessage")
    assert req.headers["authorization"] == f"Bearer {SLACK_BOT_TOKEN}"
    assert req.json() == {"channel": "C1", "thread_ts": "1700000000.000100", "text": "hello"}


def test_slack_rate_limit_is_transient_with_retry_after(
    platform: FakePlatform, channels: ChatChannels
) -> None:
    """HTTP 429 with Retry-After: retried after that many seconds."""
    platform.answer = _answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    with pytest.raises(TransientError) as caught:
        channels.post(SLACK, "hello", "k1")
    assert caught.value.delay == 7


def test_slack_refusal_names_what_to_do(platform: FakePlatform, channels: ChatChannels) -> None:
    """ok:false not_in_channel is permanent and tells the operator to invite the bot."""
    platform.answer = _answer(200, {"ok": False, "error": "not_in_channel"})
    with pytest.raises(PermanentError) as caught:
        channels.post(SLACK, "hello", "k1")
    assert "invite" in caught.value.message
    assert SLACK_BOT_TOKEN not in caught.value.message


def test_telegram_replies_in_the_topic(platform: FakePlatform, channels: ChatChannels) -> None:
    """sendMessage replies to the question's message id, in its forum topic."""
    channels.post(TELEGRAM, "hello", "k1")
    (req,) = platform.requests
    assert req.path == f"/bot{TELEGRAM_BOT_TOKEN}/sendMessage"
    assert req.json() == {
        "chat_id": 42,
        "text": "hello",
        "message_thread_id": 99,
        "reply_to_message_id": 7,
        "allow_sending_without_reply": True,
    }


def test_telegram_errors_honour_retry_after_and_never_show_the_token(
    platform: FakePlatform, channels: ChatChannels
) -> None:
    """429's parameters.retry_after is the delay; 403 is permanent; the token is never quoted."""
    platform.answer = _answer(
        429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 11}}
    )
    with pytest.raises(TransientError) as transient:
        channels.post(TELEGRAM, "hello", "k1")
    assert transient.value.delay == 11
    platform.answer = _answer(
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )
    with pytest.raises(PermanentError) as permanent:
        channels.post(TELEGRAM, "hello", "k1")
    assert "blocked" in permanent.value.message
    for error in (transient.value, permanent.value):
        assert TELEGRAM_BOT_TOKEN not in str(error)


def test_discord_edits_the_deferred_response(
    platform: FakePlatform, channels: ChatChannels
) -> None:
    """The answer replaces "thinking..." (PATCH @original), cut to Discord's 2000 characters."""
    channels.post(DISCORD, "x" * 5000, "k1")
    (req,) = platform.requests
    assert (req.method, req.path) == ("PATCH", "/api/v10/webhooks/APP1/tok-1/messages/@original")
    content = req.json()["content"]
    assert len(content) == 2000
    assert content.endswith("(answer truncated)")


def test_discord_expired_interaction_is_permanent(
    platform: FakePlatform, channels: ChatChannels
) -> None:
    """404 Unknown Webhook: the 15-minute token ran out; said so, not retried."""
    platform.answer = _answer(404, {"message": "Unknown Webhook", "code": 10015})
    with pytest.raises(PermanentError) as caught:
        channels.post(DISCORD, "hello", "k1")
    assert "15 minutes" in caught.value.message


def test_generic_reply_is_signed_and_keyed(platform: FakePlatform, channels: ChatChannels) -> None:
    """The answer POSTed to replyTo verifies with the reply secret (not the inbound one)."""
    routing = {"channel": "webhook", "thread": "t-1", "replyTo": platform.url + "/answers"}
    channels.post(routing, "hello", "uid-1/deliver")
    (req,) = platform.requests
    assert req.path == "/answers"
    verify_baton(REPLY_SECRET, req.headers["x-baton-signature"], req.body, time.time())
    with pytest.raises(SignatureError):
        verify_baton(WEBHOOK_SECRET, req.headers["x-baton-signature"], req.body, time.time())
    assert req.headers["idempotency-key"] == "uid-1/deliver"
    assert req.json() == {"thread": "t-1", "text": "hello", "idempotencyKey": "uid-1/deliver"}


def test_generic_receiver_errors_map_to_retry_or_give_up(
    platform: FakePlatform, channels: ChatChannels
) -> None:
    """A 503 from the receiver is retried; a 400 is not."""
    routing = {"channel": "webhook", "thread": "t", "replyTo": platform.url + "/answers"}
    platform.answer = _answer(503, None)
    with pytest.raises(TransientError):
        channels.post(routing, "hello", "k")
    platform.answer = _answer(400, None)
    with pytest.raises(PermanentError):
        channels.post(routing, "hello", "k")


def test_an_unreachable_platform_is_transient(channels: ChatChannels) -> None:
    """Connection refused: retried later (the platform may be back)."""
    routing = {"channel": "webhook", "thread": "t", "replyTo": f"http://127.0.0.1:{free_port()}/"}
    with pytest.raises(TransientError):
        channels.post(routing, "hello", "k")


def test_an_unknown_channel_is_permanent(channels: ChatChannels) -> None:
    """Routing to a platform baton has no adapter for fails for good, naming the known ones."""
    with pytest.raises(PermanentError) as caught:
        channels.post({"channel": "irc", "thread": "#x"}, "hello", "k")
    assert "slack" in caught.value.message


def test_a_missing_bot_token_is_named() -> None:
    """Without BATON_SLACK_BOT_TOKEN the failure says which variable to set."""
    channels = ChatChannels.from_env({})
    with pytest.raises(PermanentError) as caught:
        channels.post(SLACK, "hello", "k")
    assert "BATON_SLACK_BOT_TOKEN" in caught.value.message
