"""Each platform's signature, checked by the webhook app under a real loopback HTTP server."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events import types
from events.envelope import data_of
from tests.chat.conftest import Webhook
from tests.chat.platforms import (
    Signer,
    discord_command,
    slack_mention,
    telegram_update,
)

GENERIC = {"text": "what is 2+3?", "thread": "t-1", "replyTo": "http://127.0.0.1:9/answers"}
STALE = time.time() - 600
Sign = Callable[..., tuple[bytes, dict[str, str]]]


def _tamper(signed: tuple[bytes, dict[str, str]]) -> tuple[bytes, dict[str, str]]:
    body, headers = signed
    return body.replace(b"2+3", b"2+4"), headers


def _requests(signer: Signer) -> dict[str, dict[str, Any]]:
    """Per platform: path, a good request, and the ways to get it wrong."""
    return {
        "slack": {
            "good": signer.slack(slack_mention()),
            "wrong": signer.slack(slack_mention(), secret="not-the-secret"),
            "stale": signer.slack(slack_mention(), ts=STALE),
            "unsigned": (signer.slack(slack_mention())[0], {"content-type": "application/json"}),
        },
        "discord": {
            "good": signer.discord(discord_command()),
            "wrong": signer.discord(discord_command(), key=Ed25519PrivateKey.generate()),
            "stale": signer.discord(discord_command(), ts=STALE),
            "unsigned": (
                signer.discord(discord_command())[0],
                {"content-type": "application/json"},
            ),
        },
        "telegram": {
            "good": signer.telegram(telegram_update()),
            "wrong": signer.telegram(telegram_update(), token="not-the-token"),
            "unsigned": (signer.telegram(telegram_update())[0], {}),
        },
        "webhook": {
            "good": signer.webhook(GENERIC),
            "wrong": signer.webhook(GENERIC, secret="not-the-secret"),
            "stale": signer.webhook(GENERIC, ts=STALE),
            "unsigned": (signer.webhook(GENERIC)[0], {"content-type": "application/json"}),
        },
    }


PLATFORMS = ["slack", "discord", "telegram", "webhook"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_signed_message_is_published_as_a_channel_message(
    platform: str, signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """A correctly signed message is acknowledged and becomes one channel.message for helper."""
    hook = webhook()
    reply = hook.post(platform, _requests(signer)[platform]["good"])
    assert reply.status == 200, reply.body
    (event,) = hook.published
    assert event.get_type() == types.CHANNEL_MESSAGE
    data = data_of(event)
    assert data["agent"] == "helper"
    assert data["task"] == "what is 2+3?"
    assert data["routing"]["channel"] == platform


@pytest.mark.parametrize(
    ("platform", "case"),
    [
        (p, c)
        for p in PLATFORMS
        for c in ("wrong", "stale", "unsigned", "tampered")
        # Telegram sends a shared token, not a signature: no timestamp, no body digest.
        if p != "telegram" or c in ("wrong", "unsigned")
    ],
)
def test_a_bad_signature_is_refused_with_401_and_nothing_published(
    platform: str, case: str, signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """Wrong secret, stale timestamp, missing signature or tampered body: 401, JSON, no event."""
    requests = _requests(signer)[platform]
    signed = _tamper(requests["good"]) if case == "tampered" else requests[case]
    hook = webhook()
    reply = hook.post(platform, signed)
    assert reply.status == 401, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["error"] == "BadSignature"
    assert hook.published == []
    for secret in (signer.slack_secret, signer.telegram_token, signer.webhook_secret):
        assert secret not in reply.body.decode()


def test_a_stale_timestamp_says_it_is_stale(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """The refusal names the clock skew, so an operator can tell a replay from a wrong secret."""
    reply = webhook().post("slack", signer.slack(slack_mention(), ts=STALE))
    assert "off the server clock" in reply.json()["message"]


def test_an_unconfigured_platform_answers_404(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """Without a Telegram secret the Telegram endpoint is closed, whatever the request says."""
    config = signer.config()
    hook = webhook(dataclasses.replace(config, telegram_secret_token=""))
    reply = hook.post("telegram", signer.telegram(telegram_update()))
    assert reply.status == 404
    assert reply.json()["error"] == "NotConfigured"
    assert hook.published == []
