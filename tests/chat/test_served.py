"""The webhook as deployed: gunicorn with ``BATON_FUNCTION=webhook`` publishing to a broker
(Knative's shape), and ``baton webhook`` running messages embedded."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from cloudevents.core.base import BaseCloudEvent

from events import types
from events.envelope import data_of
from functions.cli.manifests import apply
from functions.resources.sqlite import SqliteStore
from tests.chat.conftest import AGENT
from tests.chat.platforms import REPLY_SECRET, REPLY_URLS, FakePlatform, Signer, slack_mention
from tests.fixtures.http import EventSink, request, serve_function

BATON = str(Path(sys.executable).parent / "baton")


def _secrets(signer: Signer) -> dict[str, str]:
    return {
        "BATON_CHAT_AGENT": "helper",
        "BATON_SLACK_SIGNING_SECRET": signer.slack_secret,
        "BATON_DISCORD_PUBLIC_KEY": signer.discord_public_hex,
        "BATON_WEBHOOK_SECRET": signer.webhook_secret,
        "BATON_WEBHOOK_REPLY_SECRET": REPLY_SECRET,
        "BATON_WEBHOOK_REPLY_URLS": ",".join(REPLY_URLS),
    }


def test_webhook_function_publishes_to_the_broker(tmp_path: Path, signer: Signer) -> None:
    """BATON_FUNCTION=webhook under gunicorn: a Slack mention reaches K_SINK as channel.message."""
    secret_file = tmp_path / "telegram-token"
    secret_file.write_text(signer.telegram_token + "\n")  # a Secret mounted as a file
    env = {**_secrets(signer), "BATON_TELEGRAM_SECRET_TOKEN_FILE": str(secret_file)}
    with (
        EventSink() as sink,
        serve_function(
            "webhook",
            store=f"sqlite:///{tmp_path / 'state.db'}",
            log_dir=tmp_path,
            sink=sink.url,
            env=env,
        ) as served,
    ):
        health = request(served.url + "healthz").json()
        assert health["platforms"] == ["slack", "discord", "telegram", "webhook"]
        body, headers = signer.slack(slack_mention("<@UBOT> deploy status?", ts="1.5"))
        reply = request(served.url + "slack", "POST", body, headers)
        assert reply.status == 200, reply.body
        (event,) = sink.wait_for(1)
        log = served.output()
    assert event.get_type() == types.CHANNEL_MESSAGE
    assert event.get_id() == "C1/1.5"
    assert data_of(event)["task"] == "deploy status?"
    for secret in (signer.slack_secret, signer.telegram_token, signer.webhook_secret):
        assert secret not in log


def test_an_unavailable_broker_gets_503_so_the_platform_retries(
    tmp_path: Path, signer: Signer
) -> None:
    """The broker answers 503: the webhook answers 503 (Slack re-sends; the id makes it one run)."""

    def refuse(_event: BaseCloudEvent) -> int:
        return 503

    with (
        EventSink(answer=refuse) as sink,
        serve_function(
            "webhook",
            store=f"sqlite:///{tmp_path / 'state.db'}",
            log_dir=tmp_path,
            sink=sink.url,
            env=_secrets(signer),
        ) as served,
    ):
        body, headers = signer.slack(slack_mention())
        reply = request(served.url + "slack", "POST", body, headers)
    assert reply.status == 503
    assert reply.json()["message"] == "the event bus is unavailable"


def test_baton_webhook_answers_a_generic_message_end_to_end(tmp_path: Path, signer: Signer) -> None:
    """``baton webhook --agent helper``: a signed message runs embedded; the answer comes back."""
    db = tmp_path / "state.db"
    apply(SqliteStore(str(db)), [d for d in yaml.safe_load_all(AGENT) if d])
    # The port comes from $PORT, which serve_function sets (and polls /healthz on).
    command = [BATON, "--db", str(db), "webhook", "--agent", "helper"]
    with FakePlatform() as receiver:
        env = {**_secrets(signer), "BATON_CHAT_AGENT": ""}
        with serve_function(
            None,
            store=f"sqlite:///{db}",
            log_dir=tmp_path,
            env=env,
            command=command,
        ) as served:
            doc = {"text": "hello?", "thread": "t-1", "replyTo": receiver.url + "/answers"}
            body, headers = signer.webhook(doc)
            assert request(served.url + "webhook", "POST", body, headers).status == 200
            (answer,) = receiver.wait_for(1, timeout=30)
            assert served.process.poll() is None
    assert answer.json()["text"] == "You asked: hello?"
    assert answer.json()["thread"] == "t-1"
