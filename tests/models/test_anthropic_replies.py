"""The Anthropic adapter turns Messages API replies into ModelReplies, streamed or not."""

from __future__ import annotations

import logging

import pytest

from functions.models.anthropic import IDEMPOTENCY_HEADER, NONSTREAMING_MAX_TOKENS
from functions.ports import ModelRequest, ToolCall, ToolSpec, Usage
from tests.fakes.messages_api import (
    FakeMessagesAPI,
    Reply,
    redacted_thinking,
    text,
    thinking,
    tool_use,
)
from tests.models.conftest import API_KEY, MakeModel

WEATHER = ToolSpec(
    "weather",
    "Current weather of a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = ToolSpec("clock", "The time in a timezone", {"type": "object", "properties": {}})


def ask(task: str = "What is the weather in Oslo and Lima?", **kw: object) -> ModelRequest:
    """A first-turn request with two tools."""
    return ModelRequest(
        system="You are terse.",
        messages=[{"role": "user", "content": task}],
        tools=[WEATHER, CLOCK],
        **kw,  # type: ignore[arg-type]
    )


def test_text_reply_becomes_answer_text(api: FakeMessagesAPI, make_model: MakeModel) -> None:
    """A plain text reply comes back as text with stop_reason end_turn and the model id."""
    api.enqueue(Reply.text("Sunny in both."))
    reply = make_model().complete(ask())
    assert reply.text == "Sunny in both."
    assert reply.stop_reason == "end_turn"
    assert reply.model == "claude-sonnet-5-5"
    assert reply.tool_calls == []


@pytest.mark.parametrize("stream", [False, True])
def test_parallel_tool_calls_in_order(
    api: FakeMessagesAPI, make_model: MakeModel, stream: bool
) -> None:
    """Several tool_use blocks in one reply become that many tool calls, in order."""
    api.enqueue(
        Reply(
            [
                text("Checking."),
                tool_use("weather", {"city": "Oslo"}, id="toolu_a"),
                tool_use("weather", {"city": "Lima"}, id="toolu_b"),
                tool_use("clock", {}, id="toolu_c"),
            ],
            stop_reason="tool_use",
        )
    )
    reply = make_model(stream=stream).complete(ask())
    assert reply.stop_reason == "tool_use"
    assert reply.tool_calls == [
        ToolCall("toolu_a", "weather", {"city": "Oslo"}),
        ToolCall("toolu_b", "weather", {"city": "Lima"}),
        ToolCall("toolu_c", "clock", {}),
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_blocks_kept_exactly(
    api: FakeMessagesAPI, make_model: MakeModel, stream: bool
) -> None:
    """Thinking (with signature) and redacted_thinking blocks survive verbatim for replay."""
    blocks = [
        thinking("The user wants two cities.", signature="EqQBCkYIARgCIkB"),
        redacted_thinking("EmwKAhgBEgy3va3pzix"),
        tool_use("weather", {"city": "Oslo"}, id="toolu_t"),
    ]
    api.enqueue(Reply(blocks, stop_reason="tool_use"))
    model = make_model(
        stream=stream, maxTokens=4096, thinking={"enabled": True, "budgetTokens": 2048}
    )
    reply = model.complete(ask())
    assert reply.content == blocks
    assert api.bodies()[0]["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_thinking_replayed_on_next_turn(api: FakeMessagesAPI, make_model: MakeModel) -> None:
    """Sending the reply back as the assistant turn puts the same blocks on the wire."""
    blocks = [thinking("plan", signature="sig-1"), tool_use("clock", {}, id="toolu_1")]
    api.enqueue(Reply(blocks, stop_reason="tool_use"), Reply.text("It is noon."))
    model = make_model(thinking={"enabled": True, "budgetTokens": 1024}, maxTokens=2048)
    first = model.complete(ask())
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "12:00"}
    second = ModelRequest(
        system="You are terse.",
        messages=[
            {"role": "user", "content": "What time is it?"},
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [result]},
        ],
        tools=[CLOCK],
    )
    assert model.complete(second).text == "It is noon."
    assert api.bodies()[1]["messages"][1]["content"] == blocks


STOP_REASONS = [
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("stop_reason", STOP_REASONS)
def test_each_stop_reason_surfaces(
    api: FakeMessagesAPI, make_model: MakeModel, stop_reason: str, stream: bool
) -> None:
    """The API's stop reason is returned as is, whichever it is."""
    stop_sequence = "###" if stop_reason == "stop_sequence" else None
    api.enqueue(Reply.text("partial", stop_reason=stop_reason, stop_sequence=stop_sequence))
    reply = make_model(stream=stream).complete(ask())
    assert reply.stop_reason == stop_reason
    assert reply.text == "partial"


def test_streaming_gives_the_same_reply(api: FakeMessagesAPI, make_model: MakeModel) -> None:
    """The streamed and the plain call of the same script give equal ModelReplies."""
    script = Reply(
        [
            thinking("hmm " * 40, signature="sig-long"),
            text("Here you go: " + "x" * 50),
            tool_use("weather", {"city": "Oslo", "days": [1, 2], "units": None}, id="toolu_s"),
        ],
        stop_reason="tool_use",
        usage={
            "input_tokens": 1200,
            "output_tokens": 345,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 64,
        },
    )
    api.enqueue(script, script)
    plain = make_model(stream=False).complete(ask())
    streamed = make_model(stream=True).complete(ask())
    assert streamed == plain
    assert [b.get("stream") for b in api.bodies()] == [None, True]


@pytest.mark.parametrize("stream", [False, True])
def test_usage_mapped_exactly(api: FakeMessagesAPI, make_model: MakeModel, stream: bool) -> None:
    """Input, output, cache-read and cache-creation tokens map one to one."""
    usage = {
        "input_tokens": 17,
        "output_tokens": 9001,
        "cache_read_input_tokens": 4242,
        "cache_creation_input_tokens": 313,
    }
    api.enqueue(Reply.text("ok", usage=usage))
    reply = make_model(stream=stream).complete(ask())
    assert reply.usage == Usage(input=17, output=9001, cache_read=4242, cache_creation=313)


def test_usage_without_cache_fields_is_zero(api: FakeMessagesAPI, make_model: MakeModel) -> None:
    """A reply without cache fields counts zero cache tokens."""
    api.enqueue(Reply.text("ok", usage={"input_tokens": 3, "output_tokens": 4}))
    assert make_model().complete(ask()).usage == Usage(input=3, output=4)


def test_request_body_carries_tools_and_cache_control(
    api: FakeMessagesAPI, make_model: MakeModel
) -> None:
    """Tools go out as definitions; system, last tool and newest turn carry cache_control."""
    api.enqueue(Reply.text("ok"))
    make_model(temperature=0.2, stopSequences=["###"]).complete(ask())
    body = api.bodies()[0]
    ephemeral = {"type": "ephemeral"}
    assert body["model"] == "claude-sonnet-5-5"
    assert body["max_tokens"] == 1024
    assert body["system"] == [
        {"type": "text", "text": "You are terse.", "cache_control": ephemeral}
    ]
    assert body["tools"] == [
        {
            "name": "weather",
            "description": "Current weather of a city",
            "input_schema": dict(WEATHER.input_schema),
        },
        {
            "name": "clock",
            "description": "The time in a timezone",
            "input_schema": {"type": "object", "properties": {}},
            "cache_control": ephemeral,
        },
    ]
    assert body["messages"][-1]["content"][-1]["cache_control"] == ephemeral
    assert body["temperature"] == 0.2
    assert body["stop_sequences"] == ["###"]


def test_second_turn_carries_cache_control(api: FakeMessagesAPI, make_model: MakeModel) -> None:
    """On the tool-result turn, the prefix is marked for caching; the caller's dicts stay clean."""
    api.enqueue(Reply.text("ok"))
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "7C", "is_error": False}
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [tool_use("weather", {"city": "Oslo"}, id="toolu_1")]},
        {"role": "user", "content": [result]},
    ]
    make_model().complete(ModelRequest(system="s", messages=messages, tools=[WEATHER]))
    sent = api.bodies()[0]
    assert sent["messages"][2]["content"] == [result | {"cache_control": {"type": "ephemeral"}}]
    assert sent["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in result
    assert sent["messages"][0] == {"role": "user", "content": "Weather in Oslo?"}


def test_key_and_idempotency_key_sent(api: FakeMessagesAPI, make_model: MakeModel) -> None:
    """The key authenticates the call; the idempotency key travels as a tracing header."""
    api.enqueue(Reply.text("ok"))
    make_model().complete(ask(idempotency_key="run-uid/3/call_llm"))
    headers = api.requests[0].headers
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers[IDEMPOTENCY_HEADER] == "run-uid/3/call_llm"
    assert headers["x-stainless-retry-count"] == "0"


def test_large_max_tokens_streams(api: FakeMessagesAPI, make_model: MakeModel) -> None:
    """A maxTokens the SDK refuses without streaming is streamed, with the same reply shape."""
    api.enqueue(Reply.text("long answer"))
    reply = make_model(maxTokens=NONSTREAMING_MAX_TOKENS + 1).complete(ask())
    assert reply.text == "long answer"
    assert api.bodies()[0]["stream"] is True
    assert api.bodies()[0]["max_tokens"] == NONSTREAMING_MAX_TOKENS + 1


def test_thinking_drops_temperature(api: FakeMessagesAPI, make_model: MakeModel) -> None:
    """With extended thinking on, temperature is not sent (the API only allows the default)."""
    api.enqueue(Reply.text("ok"))
    make_model(temperature=0.3, maxTokens=4096, thinking={"enabled": True, "budgetTokens": 1024})
    make_model(temperature=0.3, maxTokens=4096, thinking={"enabled": True}).complete(ask())
    assert "temperature" not in api.bodies()[0]


def test_prompts_not_logged_at_debug(
    api: FakeMessagesAPI, make_model: MakeModel, all_logs: list[logging.LogRecord]
) -> None:
    """Even with the root logger at DEBUG, neither the task nor the system prompt is logged."""
    api.enqueue(Reply.text("ok"))
    make_model().complete(ask("the secret plan is pineapple"))
    assert all_logs, "the scan must see the call's log records"
    for record in all_logs:
        assert "pineapple" not in record.getMessage()
        assert "You are terse." not in record.getMessage()
