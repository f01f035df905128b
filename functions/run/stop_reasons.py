"""What each Anthropic stop reason means for a run: answer, tool calls, continue, or fail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from functions.ports import ModelReply

__all__ = ["ON_MAX_TOKENS", "StopOutcome", "classify_stop"]

ON_MAX_TOKENS: Final = ("continue", "fail")

Kind = Literal["answer", "tool_calls", "continue", "fail"]


@dataclass(frozen=True)
class StopOutcome:
    """The decision for one reply; ``reason``/``message`` are set when ``kind`` is fail."""

    kind: Kind
    reason: str = ""
    message: str = ""


_FAILURES: Final = {
    "refusal": (
        "ModelRefused",
        "the model declined to continue (stop_reason refusal); rephrase the task",
    ),
    "model_context_window_exceeded": (
        "ContextWindowExceeded",
        "the conversation no longer fits the model's context window; "
        "lower limits.maxTurns or use a model with a larger context",
    ),
}


def classify_stop(
    reply: ModelReply, on_max_tokens: str = "fail", max_tokens: int | None = None
) -> StopOutcome:
    """Map the reply's stop reason to what the run does next (``on_max_tokens``: continue|fail)."""
    stop = reply.stop_reason
    if stop == "tool_use" and reply.tool_calls:
        return StopOutcome("tool_calls")
    if stop in ("end_turn", "stop_sequence"):
        return StopOutcome("answer")
    if stop == "pause_turn":
        # A server-side tool loop hit its limit: send the reply back as is and call again.
        return StopOutcome("continue")
    if stop == "max_tokens":
        truncated_tool = bool(reply.content) and reply.content[-1].get("type") == "tool_use"
        if on_max_tokens == "continue" and not truncated_tool:
            return StopOutcome("continue")
        return StopOutcome(
            "fail",
            "MaxTokens",
            f"the reply hit maxTokens{f' ({max_tokens})' if max_tokens else ''}"
            + (" inside a tool call" if truncated_tool else "")
            + "; raise the Model's maxTokens or set onMaxTokens: continue",
        )
    if stop in _FAILURES:
        reason, message = _FAILURES[stop]
        return StopOutcome("fail", reason, message)
    if stop == "tool_use":
        return StopOutcome(
            "fail", "ModelReplyInvalid", "stop_reason tool_use without tool_use blocks"
        )
    return StopOutcome("fail", "UnknownStopReason", f"unknown stop_reason {stop!r}")
