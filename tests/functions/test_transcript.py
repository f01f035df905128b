"""The transcript rebuilt from the journal in Anthropic Messages shape."""

from __future__ import annotations

from functions.ports import ModelReply, Usage
from functions.run.transcript import (
    CONTEXT,
    Transcript,
    reply_entry,
    reply_from_entry,
    reply_key,
    tool_key,
)

CONTEXT_ENTRY = {
    "system": "Be terse.",
    "tools": [{"name": "calculate", "description": "math", "input_schema": {"type": "object"}}],
    "messages": [{"role": "user", "content": "What is 6*7 and 2+2?"}],
}
TOOLS_REPLY = ModelReply(
    [
        {"type": "text", "text": "Computing."},
        {"type": "tool_use", "id": "t1", "name": "calculate", "input": {"expression": "6*7"}},
        {"type": "tool_use", "id": "t2", "name": "calculate", "input": {"expression": "2+2"}},
    ],
    "tool_use",
    Usage(input=20, output=9, cache_read=3, cache_creation=1),
    "fake-1",
)


def test_a_reply_survives_the_journal():
    """reply_entry and reply_from_entry round-trip content, stop reason, usage and model."""
    entry = reply_entry(TOOLS_REPLY)
    assert entry["usage"] == {"input": 20, "output": 9, "cacheRead": 3, "cacheCreation": 1}
    assert reply_from_entry(entry) == TOOLS_REPLY


def test_journal_keys():
    """Keys name the step and the tool call."""
    assert (reply_key(2), tool_key(2, "t1")) == ("reply/2", "tool/2/t1")


def test_before_prepare_context_the_transcript_is_empty():
    """No context yet: no system, no tools, no messages."""
    t = Transcript([])
    assert (t.system, t.tools, t.messages(1), t.tool_calls(1)) == ("", [], [], [])


def test_messages_interleave_replies_and_tool_results():
    """Step 2 sees the task, the assistant's tool_use turn, then every tool_result in call order."""
    t = Transcript(
        [
            (CONTEXT, CONTEXT_ENTRY),
            (reply_key(1), reply_entry(TOOLS_REPLY)),
            (tool_key(1, "t2"), {"content": "4", "is_error": False}),
            (tool_key(1, "t1"), {"content": "bad", "is_error": True}),
        ]
    )
    assert t.system == "Be terse."
    assert [s.name for s in t.tools] == ["calculate"]
    assert [c.id for c in t.tool_calls(1)] == ["t1", "t2"]
    assert t.messages(1) == CONTEXT_ENTRY["messages"]
    assert t.messages(2) == [
        {"role": "user", "content": "What is 6*7 and 2+2?"},
        {"role": "assistant", "content": TOOLS_REPLY.content},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "bad", "is_error": True},
                {"type": "tool_result", "tool_use_id": "t2", "content": "4", "is_error": False},
            ],
        },
    ]


def test_a_turn_without_tools_adds_only_the_assistant_message():
    """A pause_turn reply is sent back as is, with no empty user turn after it."""
    paused = ModelReply([{"type": "text", "text": "Thinking..."}], "pause_turn")
    t = Transcript([(CONTEXT, CONTEXT_ENTRY), (reply_key(1), reply_entry(paused))])
    assert t.messages(2)[1:] == [{"role": "assistant", "content": paused.content}]


def test_messages_stop_at_the_first_missing_reply():
    """Asking for a later step than recorded gives what is recorded, nothing invented."""
    t = Transcript([(CONTEXT, CONTEXT_ENTRY)])
    assert t.messages(5) == CONTEXT_ENTRY["messages"]


def test_messages_are_copies():
    """Editing the returned messages does not change the recorded context."""
    t = Transcript([(CONTEXT, CONTEXT_ENTRY)])
    t.messages(1)[0]["content"] = "changed"
    assert t.messages(1)[0]["content"] == "What is 6*7 and 2+2?"
