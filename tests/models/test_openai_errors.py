"""OpenAI's own failure shapes (the shared ones are in test_model_errors)."""

from __future__ import annotations

import logging

import pytest

from events.errors import PermanentError, TransientError
from functions.models.keys import resolve_api_key
from functions.models.openai import OpenAIModel
from tests.fakes.openai_api import ChatReply, FakeOpenAIAPI, Fault
from tests.models.conftest import (
    OPENAI_KEY,
    OPENAI_KEY_SOURCE,
    REQUEST,
    MakeOpenAI,
    assert_no_key,
    failure,
    openai_resource,
    secrets_allowing,
)


def test_exhausted_quota_is_permanent(openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI) -> None:
    """A 429 insufficient_quota is no rate limit: waiting will not help, the run fails."""
    fault = Fault(
        status=429, message="You exceeded your current quota", error_type="insufficient_quota"
    )
    error = failure(make_openai, openai_api, fault)
    assert isinstance(error, PermanentError)
    assert error.reason == "ModelQuotaExceeded"
    assert OPENAI_KEY_SOURCE in error.message


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_stream_error_is_unavailable(
    openai_api: FakeOpenAIAPI,
    make_openai: MakeOpenAI,
    all_logs: list[logging.LogRecord],
    stream: bool,
) -> None:
    """An error event mid-stream (or a 503 without streaming) is retried."""
    fault = Fault(kind="stream_error", message="engine died")
    error = failure(make_openai, openai_api, fault, stream=stream)
    assert isinstance(error, TransientError), error
    assert error.reason == "ModelUnavailable"
    assert_no_key(error, all_logs, key=OPENAI_KEY)


def test_bad_tool_arguments_are_retried(openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI) -> None:
    """Tool arguments that are not a JSON object (and not cut by maxTokens) are worth a retry."""
    bad = {"id": "call_x", "type": "function", "function": {"name": "clock", "arguments": "[1"}}
    error = failure(make_openai, openai_api, ChatReply.tools(bad))
    assert isinstance(error, TransientError) and error.reason == "ModelReplyInvalid"


def test_key_from_default_env_and_hidden_from_repr(openai_api: FakeOpenAIAPI) -> None:
    """Without a Secret ref the key is OPENAI_API_KEY; the bound model's repr hides it."""
    resource = openai_resource(openai_api.url)
    del resource["spec"]["apiKeySecretRef"]
    key = resolve_api_key(resource, environ={"OPENAI_API_KEY": OPENAI_KEY})
    assert key.source == "environment variable OPENAI_API_KEY"
    bound = OpenAIModel(resource, key)
    assert OPENAI_KEY not in repr(bound) and OPENAI_KEY not in repr(bound.settings)
    openai_api.enqueue(ChatReply.text("hello"))
    assert bound.complete(REQUEST).text == "hello"
    bound.close()


def test_thinking_is_refused_with_a_reason(openai_api: FakeOpenAIAPI) -> None:
    """spec.thinking on an openai Model is a clear error, not silently dropped."""
    resource = openai_resource(openai_api.url, thinking={"enabled": True, "budgetTokens": 2048})
    with pytest.raises(PermanentError, match="thinking is not supported by provider openai"):
        OpenAIModel.from_resource(resource, secrets_allowing(OPENAI_KEY, openai_api.url))
