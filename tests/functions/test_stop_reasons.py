"""Every stop reason has a defined outcome for the run."""

from __future__ import annotations

import pytest

from functions.ports import ModelReply
from functions.run.stop_reasons import classify_stop

TEXT = {"type": "text", "text": "partial"}
TOOL = {"type": "tool_use", "id": "toolu_1", "name": "clock", "input": {}}


def reply(stop_reason: str, *content: dict[str, object]) -> ModelReply:
    """A reply with the given stop reason and blocks (text by default)."""
    return ModelReply(content=list(content) or [TEXT], stop_reason=stop_reason)


@pytest.mark.parametrize(
    ("stop_reason", "kind"),
    [("end_turn", "answer"), ("stop_sequence", "answer"), ("pause_turn", "continue")],
)
def test_non_failing_outcomes(stop_reason: str, kind: str) -> None:
    """end_turn and stop_sequence answer; pause_turn continues."""
    assert classify_stop(reply(stop_reason)).kind == kind


def test_tool_use_gives_tool_calls() -> None:
    """tool_use with tool blocks asks for the tool calls."""
    assert classify_stop(reply("tool_use", TEXT, TOOL)).kind == "tool_calls"


def test_tool_use_without_blocks_fails() -> None:
    """A tool_use stop without any tool_use block is an invalid reply."""
    assert classify_stop(reply("tool_use")).reason == "ModelReplyInvalid"


def test_max_tokens_follows_on_max_tokens() -> None:
    """max_tokens continues when configured, else fails saying what to change."""
    assert classify_stop(reply("max_tokens"), "continue").kind == "continue"
    outcome = classify_stop(reply("max_tokens"), "fail")
    assert (outcome.kind, outcome.reason) == ("fail", "MaxTokens")
    assert "maxTokens" in outcome.message and "onMaxTokens" in outcome.message


def test_max_tokens_inside_tool_call_fails_even_on_continue() -> None:
    """A tool call cut off by max_tokens cannot be continued; it fails."""
    outcome = classify_stop(reply("max_tokens", TEXT, TOOL), "continue")
    assert (outcome.kind, outcome.reason) == ("fail", "MaxTokens")
    assert "inside a tool call" in outcome.message


@pytest.mark.parametrize(
    ("stop_reason", "reason"),
    [
        ("refusal", "ModelRefused"),
        ("model_context_window_exceeded", "ContextWindowExceeded"),
        ("brand_new_reason", "UnknownStopReason"),
        ("", "UnknownStopReason"),
    ],
)
def test_failing_outcomes_have_reasons(stop_reason: str, reason: str) -> None:
    """Refusal, context overflow and unknown reasons fail with a clear reason and message."""
    outcome = classify_stop(reply(stop_reason))
    assert (outcome.kind, outcome.reason) == ("fail", reason)
    assert outcome.message
