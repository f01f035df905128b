"""What platform requests turn into: handshakes, ignored messages, malformed bodies, agents."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from events.envelope import data_of
from tests.chat.conftest import Webhook
from tests.chat.platforms import Signer, discord_command, slack_mention, telegram_update


def test_slack_url_verification_echoes_the_challenge(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """Slack's URL check gets its challenge back, and nothing runs."""
    hook = webhook()
    doc = {"type": "url_verification", "token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595"}
    reply = hook.post("slack", signer.slack(doc))
    assert reply.status == 200
    assert reply.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595"}
    assert hook.published == []


def test_discord_ping_is_answered_pong(signer: Signer, webhook: Callable[..., Webhook]) -> None:
    """Discord's endpoint check (PING) gets PONG, and nothing runs."""
    hook = webhook()
    reply = hook.post("discord", signer.discord({"type": 1, "id": "P1", "application_id": "A"}))
    assert reply.status == 200
    assert reply.json() == {"type": 1}
    assert hook.published == []


def test_discord_command_is_deferred_and_published(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """A slash command is answered "deferred" at once; routing keeps the token for the answer."""
    hook = webhook()
    reply = hook.post("discord", signer.discord(discord_command("how are you?", "I9")))
    assert reply.json() == {"type": 5}
    (event,) = hook.published
    assert event.get_id() == "I9"
    assert data_of(event)["routing"] == {
        "channel": "discord",
        "account": "APP1",
        "thread": "CH1",
        "replyTo": "tok-I9",
    }


def test_slack_thread_reply_routes_to_the_thread_root(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """A mention inside a thread answers in that thread; the mention is not part of the task."""
    hook = webhook()
    doc = slack_mention("<@UBOT>  summarise this", ts="1700000005.000200")
    doc["event"]["thread_ts"] = "1700000000.000100"
    hook.post("slack", signer.slack(doc))
    (event,) = hook.published
    data = data_of(event)
    assert data["task"] == "summarise this"
    assert data["routing"] == {
        "channel": "slack",
        "account": "T1",
        "thread": "C1/1700000000.000100",
    }
    assert event.get_id() == "C1/1700000005.000200"
    assert event.get_source() == "/baton/chat/slack/T1"


def test_bots_edits_and_our_own_messages_are_acknowledged_not_run(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """Bot posts, edits, our own messages and empty mentions get 200 and start nothing."""
    hook = webhook()
    ignored = [
        signer.slack(slack_mention(bot_id="B1")),
        signer.slack(slack_mention(subtype="message_changed")),
        signer.slack(slack_mention(user="UBOT")),
        signer.slack(slack_mention("<@UBOT>")),
    ]
    for signed in ignored:
        reply = hook.post("slack", signed)
        assert reply.status == 200
        assert reply.json()["ignored"]
    bot = telegram_update()
    bot["message"]["from"]["is_bot"] = True
    assert hook.post("telegram", signer.telegram(bot)).status == 200
    edit = {"update_id": 5, "edited_message": telegram_update()["message"]}
    assert hook.post("telegram", signer.telegram(edit)).status == 200
    assert hook.published == []


def test_a_channel_message_without_a_mention_is_not_run(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """Slack's plain channel message (the app_mention covers mentions) is ignored; a DM runs."""
    hook = webhook()
    plain = slack_mention("hello all")
    plain["event"].update(type="message", channel_type="channel")
    hook.post("slack", signer.slack(plain))
    assert hook.published == []
    dm = slack_mention("hello bot")
    dm["event"].update(type="message", channel_type="im")
    hook.post("slack", signer.slack(dm))
    assert [data_of(e)["task"] for e in hook.published] == ["hello bot"]


def test_malformed_bodies_get_400_naming_the_problem(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """A signed body that is not what the platform sends is refused with a reason, not run."""
    hook = webhook()
    body, headers = signer.webhook({"thread": "t"})
    reply = hook.post("webhook", (body, headers))
    assert reply.status == 400
    assert "'text'" in reply.json()["message"]
    reply = hook.post("webhook", signer.webhook({"text": "hi", "thread": "t", "colour": "red"}))
    assert "colour" in reply.json()["message"]
    reply = hook.post("webhook", signer.webhook({"text": "hi", "thread": "t", "agent": "Bad_Name"}))
    assert reply.status == 400
    assert "agent" in reply.json()["message"]
    reply = hook.post("slack", signer.slack(["not", "an", "object"]))
    assert reply.status == 400
    assert "JSON object" in reply.json()["message"]
    reply = hook.post("discord", signer.discord({"type": 3, "id": "X"}))
    assert reply.status == 400
    assert "interaction type 3" in reply.json()["message"]
    assert hook.published == []


def test_a_huge_message_is_refused_without_echoing_it(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """Past 100,000 characters the message is refused by size; the text is not quoted back."""
    hook = webhook()
    reply = hook.post("webhook", signer.webhook({"text": "x" * 100_001, "thread": "t"}))
    assert reply.status == 400
    assert "100001 characters" in reply.json()["message"]
    assert "xxxxxxxxxx" not in reply.body.decode()


def test_a_slash_prefix_picks_a_selectable_agent(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """``/coder fix it`` goes to coder when coder is selectable; an unknown prefix stays text."""
    config = dataclasses.replace(
        signer.config(), selectable=frozenset({"coder"}), platform_agents={"telegram": "tg-bot"}
    )
    hook = webhook(config)
    hook.post("telegram", signer.telegram(telegram_update("/coder@baton_bot fix it", 1)))
    hook.post("telegram", signer.telegram(telegram_update("/other fix it", 2)))
    hook.post("slack", signer.slack(slack_mention("<@UBOT> /coder review", ts="1.1")))
    picked = [(data_of(e)["agent"], data_of(e)["task"]) for e in hook.published]
    assert picked == [("coder", "fix it"), ("tg-bot", "/other fix it"), ("coder", "review")]


def test_discord_agent_option_picks_the_agent(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """A command's ``agent`` option (or its own name) picks a selectable agent."""
    hook = webhook(dataclasses.replace(signer.config(), selectable=frozenset({"coder", "ask"})))
    cmd = discord_command("fix it", "I1")
    cmd["data"]["options"].append({"name": "agent", "type": 3, "value": "coder"})
    hook.post("discord", signer.discord(cmd))
    hook.post("discord", signer.discord(discord_command("hello", "I2")))
    assert [data_of(e)["agent"] for e in hook.published] == ["coder", "ask"]


def test_telegram_forum_topic_is_its_own_thread(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """A message in a forum topic routes to chat/topic and replies to the message."""
    hook = webhook()
    update = telegram_update(message_thread_id=99, is_topic_message=True)
    hook.post("telegram", signer.telegram(update))
    (event,) = hook.published
    assert data_of(event)["routing"] == {"channel": "telegram", "thread": "42/99", "replyTo": "7"}
    assert event.get_id() == "42/7"


def test_healthz_lists_the_configured_platforms(
    signer: Signer, webhook: Callable[..., Webhook]
) -> None:
    """/healthz says which platforms this deployment accepts."""
    from tests.fixtures.http import request

    hook = webhook(dataclasses.replace(signer.config(), discord_public_key=""))
    reply = request(hook.url + "/healthz")
    assert reply.json() == {"status": "ok", "platforms": ["slack", "telegram", "webhook"]}
