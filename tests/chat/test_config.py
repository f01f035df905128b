"""Webhook configuration: secrets from env or mounted files, never shown; an agent required."""

from __future__ import annotations

from pathlib import Path

import pytest

from events.sources.chat import ChatConfig
from functions.channels import ChatChannels
from functions.serve.webhook import create_webhook_app


def test_secrets_come_from_mounted_files_and_stay_out_of_repr(tmp_path: Path) -> None:
    """``<NAME>_FILE`` is read (trailing newline dropped, as kubectl writes it); repr hides it."""
    (tmp_path / "slack").write_text("from-a-file\n")
    config = ChatConfig.from_env(
        {
            "BATON_CHAT_AGENT": "helper",
            "BATON_CHAT_AGENTS": "coder, ops",
            "BATON_TELEGRAM_AGENT": "tg",
            "BATON_SLACK_SIGNING_SECRET_FILE": str(tmp_path / "slack"),
            "BATON_WEBHOOK_SECRET": "from-env",
        }
    )
    assert config.slack_signing_secret == "from-a-file"
    assert config.webhook_secret == "from-env"
    assert config.selectable == {"coder", "ops"}
    assert (config.agent_for("telegram"), config.agent_for("slack")) == ("tg", "helper")
    assert config.configured() == ["slack", "webhook"]
    shown = repr(config)
    assert "from-a-file" not in shown and "from-env" not in shown
    assert "xoxb-secret" not in repr(
        ChatChannels.from_env({"BATON_SLACK_BOT_TOKEN": "xoxb-secret"}).adapters
    )


def test_an_unreadable_secret_file_names_the_file_only(tmp_path: Path) -> None:
    """A missing mounted Secret fails at start, naming the variable and path."""
    missing = tmp_path / "nope"
    with pytest.raises(ValueError, match="BATON_WEBHOOK_SECRET_FILE") as caught:
        ChatConfig.from_env({"BATON_WEBHOOK_SECRET_FILE": str(missing)})
    assert str(missing) in str(caught.value)


def test_the_webhook_will_not_start_without_an_agent() -> None:
    """No agent configured: the app factory refuses, saying which variable to set."""
    with pytest.raises(ValueError, match="BATON_CHAT_AGENT"):
        create_webhook_app(ChatConfig(webhook_secret="s"), publish=lambda _e: None)
