"""End to end per platform: a signed webhook -> embedded runtime runs the agent -> the answer is
posted to the (fake) platform in the right thread."""

from __future__ import annotations

from tests.chat.conftest import TELEGRAM_BOT_TOKEN, ChatWorld
from tests.chat.platforms import (
    FakePlatform,
    Signer,
    discord_command,
    slack_mention,
    telegram_update,
)


def _answered(world: ChatWorld, task: str) -> None:
    run = world.finished()
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"] == f"You asked: {task}"
    delivered = next(c for c in run["status"]["conditions"] if c["type"] == "Delivered")
    assert delivered["status"] == "True", delivered


def test_slack_mention_is_answered_in_its_thread(chat_world: ChatWorld, signer: Signer) -> None:
    """@bot in a thread: the answer lands in that thread of that channel."""
    doc = slack_mention("<@UBOT> what is 2+3?", ts="1700000009.000900")
    doc["event"]["thread_ts"] = "1700000000.000100"
    assert chat_world.hook.post("slack", signer.slack(doc)).status == 200
    _answered(chat_world, "what is 2+3?")
    (req,) = chat_world.platform.wait_for(1)
    assert req.path == "/api/chat.postMessage"
    assert req.json() == {
        "channel": "C1",
        "thread_ts": "1700000000.000100",
        "text": "You asked: what is 2+3?",
    }
    run = chat_world.runs()[0]
    assert run["spec"]["sessionKey"] == "slack:C1/1700000000.000100"


def test_discord_command_answer_replaces_the_deferred_response(
    chat_world: ChatWorld, signer: Signer
) -> None:
    """/ask: deferred at once, then the interaction's original response becomes the answer."""
    reply = chat_world.hook.post("discord", signer.discord(discord_command("hi there", "I5")))
    assert reply.json() == {"type": 5}
    _answered(chat_world, "hi there")
    (req,) = chat_world.platform.wait_for(1)
    assert (req.method, req.path) == ("PATCH", "/api/v10/webhooks/APP1/tok-I5/messages/@original")
    assert req.json()["content"] == "You asked: hi there"


def test_telegram_message_is_answered_as_a_reply(chat_world: ChatWorld, signer: Signer) -> None:
    """A Telegram message gets a reply to that message in its chat."""
    reply = chat_world.hook.post("telegram", signer.telegram(telegram_update("ping?", 31)))
    assert reply.status == 200
    _answered(chat_world, "ping?")
    (req,) = chat_world.platform.wait_for(1)
    assert req.path == f"/bot{TELEGRAM_BOT_TOKEN}/sendMessage"
    body = req.json()
    assert (body["chat_id"], body["reply_to_message_id"]) == (42, 31)
    assert body["text"] == "You asked: ping?"


def test_generic_webhook_answer_is_posted_to_reply_to(
    chat_world: ChatWorld, signer: Signer
) -> None:
    """The generic sender gets the answer POSTed to its replyTo URL, for its thread."""
    with FakePlatform() as receiver:
        doc = {"text": "status?", "thread": "ticket-9", "replyTo": receiver.url + "/in", "id": "m1"}
        assert chat_world.hook.post("webhook", signer.webhook(doc)).status == 200
        _answered(chat_world, "status?")
        (req,) = receiver.wait_for(1)
    assert req.json()["thread"] == "ticket-9"
    assert req.json()["text"] == "You asked: status?"


def test_a_platform_retry_makes_one_run_and_one_answer(
    chat_world: ChatWorld, signer: Signer
) -> None:
    """Slack re-sends the same event (and the message event of the same mention): one run."""
    mention = slack_mention("<@UBOT> once please", ts="1700000042.000100")
    assert chat_world.hook.post("slack", signer.slack(mention)).status == 200
    _answered(chat_world, "once please")
    retry_body, retry_headers = signer.slack(mention)
    retry_headers["x-slack-retry-num"] = "1"
    retry_headers["x-slack-retry-reason"] = "http_timeout"
    assert chat_world.hook.post("slack", (retry_body, retry_headers)).status == 200
    telegram = signer.telegram(telegram_update("twice?", 8))
    chat_world.hook.post("telegram", telegram)
    chat_world.hook.post("telegram", telegram)
    assert chat_world.runtime.bus.wait_idle(30), "the messages' chains are still busy"
    tasks = sorted(r["spec"]["task"] for r in chat_world.runs())
    assert tasks == ["once please", "twice?"]
    # Wait for the Telegram answer, then check no platform got anything twice.
    chat_world.platform.wait_for(2)
    assert chat_world.runtime.bus.wait_idle(30), "the answers' chains are still busy"
    assert len(chat_world.platform.requests) == 2
