"""The OpenAI adapter turns Chat Completions replies into ModelReplies, streamed or not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.models import ModelRegistry
from functions.models.openai import IDEMPOTENCY_HEADER
from functions.ports import ModelRequest, ToolCall, ToolSpec, Usage
from functions.run.stop_reasons import classify_stop
from tests.fakes.openai_api import ChatReply, FakeOpenAIAPI, call
from tests.models.conftest import OPENAI_KEY, MakeOpenAI, openai_resource, secrets_allowing

WEATHER = ToolSpec(
    "weather",
    "Current weather of a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = ToolSpec("clock", "The time in a timezone", {"type": "object", "properties": {}})
BOTH = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])


def ask(task: str = "What is the weather in Oslo and Lima?", **kw: Any) -> ModelRequest:
    """A first-turn request with two tools."""
    return ModelRequest(
        system="You are terse.",
        messages=[{"role": "user", "content": task}],
        tools=[WEATHER, CLOCK],
        **kw,
    )


@BOTH
def test_text_reply_is_an_answer(
    openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI, stream: bool
) -> None:
    """A text completion comes back as text, stop end_turn, which classify_stop calls an answer."""
    openai_api.enqueue(ChatReply.text("Sunny in both, 21 degrees in Lima."))
    reply = make_openai(stream=stream).complete(ask())
    assert reply.text == "Sunny in both, 21 degrees in Lima."
    assert reply.stop_reason == "end_turn"
    assert reply.model == "gpt-5.1-mini"
    assert reply.tool_calls == []
    assert classify_stop(reply).kind == "answer"


@BOTH
def test_parallel_tool_calls_in_order(
    openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI, stream: bool
) -> None:
    """Several tool calls in one completion become that many baton tool calls, in order."""
    openai_api.enqueue(
        ChatReply.tools(
            call("weather", {"city": "Oslo"}, id="call_a"),
            call("weather", {"city": "Lima, Peru"}, id="call_b"),
            call("clock", {}, id="call_c"),
            content="Checking.",
        )
    )
    reply = make_openai(stream=stream).complete(ask())
    assert reply.stop_reason == "tool_use"
    assert reply.text == "Checking."
    assert reply.tool_calls == [
        ToolCall("call_a", "weather", {"city": "Oslo"}),
        ToolCall("call_b", "weather", {"city": "Lima, Peru"}),
        ToolCall("call_c", "clock", {}),
    ]
    assert classify_stop(reply).kind == "tool_calls"


def test_request_carries_system_tools_limits_and_key(
    openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI
) -> None:
    """The request has the system prompt first, tools as functions, maxTokens, the key, the id."""
    openai_api.enqueue(ChatReply.text("ok"))
    model = make_openai(temperature=0.2, stopSequences=["END"], openai={"project": "proj_1"})
    model.complete(ask(idempotency_key="uid-1/1/call_llm"))
    request = openai_api.requests[0]
    body = request.body
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert body["messages"][1] == {
        "role": "user",
        "content": "What is the weather in Oslo and Lima?",
    }
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Current weather of a city",
            "parameters": WEATHER.input_schema,
        },
    }
    assert body["max_completion_tokens"] == 1024
    assert (body["temperature"], body["stop"]) == (0.2, ["END"])
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.headers["openai-project"] == "proj_1"
    assert request.headers[IDEMPOTENCY_HEADER] == "uid-1/1/call_llm"


def test_max_tokens_field_for_older_servers(
    openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI
) -> None:
    """openai.maxTokensField: max_tokens sends the field older compatible servers read."""
    openai_api.enqueue(ChatReply.text("ok"))
    make_openai(maxTokens=77, openai={"maxTokensField": "max_tokens"}).complete(ask())
    body = openai_api.bodies()[0]
    assert body["max_tokens"] == 77 and "max_completion_tokens" not in body


@BOTH
def test_tool_round_trip_is_sent_back_in_chat_shape(
    openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI, stream: bool
) -> None:
    """Turn 2 sends the assistant's tool calls and one tool message per result, ids matched."""
    openai_api.enqueue(
        ChatReply.tools(call("weather", {"city": "Oslo"}, id="call_a"), call("clock", {}, id="c2"))
    )
    model = make_openai(stream=stream)
    first = model.complete(ask())
    openai_api.enqueue(ChatReply.text("Oslo: 4 degrees at noon."))
    results = [
        {"type": "tool_result", "tool_use_id": "call_a", "content": "4 degrees"},
        {"type": "tool_result", "tool_use_id": "c2", "content": "no tz", "is_error": True},
    ]
    second = model.complete(
        ModelRequest(
            system="You are terse.",
            messages=[
                {"role": "user", "content": "Weather in Oslo?"},
                {"role": "assistant", "content": first.content},
                {"role": "user", "content": results},
            ],
            tools=[WEATHER, CLOCK],
        )
    )
    assert second.text == "Oslo: 4 degrees at noon."
    sent = openai_api.bodies()[1]["messages"]
    assert sent[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "weather", "arguments": json.dumps({"city": "Oslo"})},
            },
            {"id": "c2", "type": "function", "function": {"name": "clock", "arguments": "{}"}},
        ],
    }
    assert sent[3:] == [
        {"role": "tool", "tool_call_id": "call_a", "content": "4 degrees"},
        {"role": "tool", "tool_call_id": "c2", "content": "Error: no tz"},
    ]


@BOTH
def test_usage_counts_cached_tokens_once_and_prices_exactly(
    openai_api: FakeOpenAIAPI, stream: bool
) -> None:
    """prompt 1,000 of which 800 cached + 50 out: input 200, cacheRead 800, cost to the cent."""
    openai_api.enqueue(ChatReply.text("ok", prompt_tokens=1000, completion_tokens=50, cached=800))
    pricing = {"inputPerMTok": 1.25, "outputPerMTok": 10, "cacheReadPerMTok": 0.125}
    resource = openai_resource(openai_api.url, stream=stream, pricing=pricing)
    registry = ModelRegistry(secrets_allowing(OPENAI_KEY, openai_api.url))
    reply = registry.for_resource(resource).complete(ask())
    assert reply.usage == Usage(input=200, output=50, cache_read=800)
    # 200 x 1.25 + 50 x 10 + 800 x 0.125 = 250 + 500 + 100 = 850 per million
    assert registry.cost(resource, {"input": 200, "output": 50, "cacheRead": 800}) == "0.00085"


@BOTH
def test_length_is_max_tokens_and_fails_the_run_readably(
    openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI, stream: bool
) -> None:
    """finish_reason length maps to max_tokens; a truncated tool call is named, not retried."""
    truncated = call("weather", '{"city": "Os', id="call_t")
    openai_api.enqueue(ChatReply(None, [truncated], finish_reason="length"))
    reply = make_openai(stream=stream).complete(ask())
    assert reply.stop_reason == "max_tokens"
    outcome = classify_stop(reply, max_tokens=1024)
    assert (outcome.kind, outcome.reason) == ("fail", "MaxTokens")
    assert "inside a tool call" in outcome.message


def test_content_filter_is_a_refusal(openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI) -> None:
    """finish_reason content_filter fails the run as ModelRefused."""
    openai_api.enqueue(ChatReply("", finish_reason="content_filter"))
    outcome = classify_stop(make_openai().complete(ask()))
    assert (outcome.kind, outcome.reason) == ("fail", "ModelRefused")


def test_unknown_finish_reason_is_named(openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI) -> None:
    """A finish_reason baton does not know fails with its name in the message."""
    openai_api.enqueue(ChatReply.text("hm", finish_reason="eos_token"))
    outcome = classify_stop(make_openai().complete(ask()))
    assert outcome.reason == "UnknownStopReason" and "eos_token" in outcome.message


def test_streaming_asks_for_usage(openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI) -> None:
    """A streamed call asks for the usage chunk, so tokens are counted as for a plain call."""
    openai_api.enqueue(ChatReply.text("streamed", prompt_tokens=31, completion_tokens=7))
    reply = make_openai(stream=True).complete(ask())
    body = openai_api.bodies()[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert reply.usage == Usage(input=31, output=7)
