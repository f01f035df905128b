"""OpenAI API failures map to the same TransientError / PermanentError as Anthropic's."""

from __future__ import annotations

import logging

import pytest

from events.errors import BatonError, PermanentError, TransientError
from functions.models.keys import resolve_api_key
from functions.models.openai import OpenAIModel
from functions.ports import ModelRequest
from tests.fakes.openai_api import ChatReply, FakeOpenAIAPI, Fault
from tests.models.conftest import (
    OPENAI_KEY,
    OPENAI_KEY_SOURCE,
    MakeOpenAI,
    openai_resource,
    secrets_allowing,
)
from tests.models.test_anthropic_errors import assert_no_key

REQUEST = ModelRequest(system="s", messages=[{"role": "user", "content": "hi"}])


def failure(
    make: MakeOpenAI, api: FakeOpenAIAPI, script: Fault | ChatReply, **spec: object
) -> BatonError:
    """Script one reply, make one call, return the baton error it raised."""
    api.enqueue(script)
    with pytest.raises(BatonError) as caught:
        make(**spec).complete(REQUEST)
    return caught.value


def test_429_is_transient_with_retry_after(
    openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI, all_logs: list[logging.LogRecord]
) -> None:
    """A rate limit asks for a retry after the server's retry-after seconds."""
    error = failure(make_openai, openai_api, Fault.status_code(429, "slow down", retry_after=7))
    assert isinstance(error, TransientError)
    assert (error.delay, error.reason) == (7.0, "ModelRateLimited")
    assert "slow down" in error.message
    assert_no_key(error, all_logs, key=OPENAI_KEY)


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
@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (Fault.status_code(500, "Internal"), "ModelUnavailable"),
        (Fault.status_code(503, "Unavailable"), "ModelUnavailable"),
        (Fault.status_code(529, "Overloaded"), "ModelOverloaded"),
        (Fault(kind="drop"), "ModelUnreachable"),
        (Fault(kind="drop_mid_stream"), "ModelUnreachable"),
        (Fault(kind="stream_error", message="engine died"), "ModelUnavailable"),
        (Fault(kind="malformed"), "ModelReplyInvalid"),
        (ChatReply.text("too late", delay=2.0), "ModelTimeout"),
    ],
    ids=["500", "503", "529", "drop", "drop-mid-stream", "stream-error", "malformed", "timeout"],
)
def test_transient_failures(
    openai_api: FakeOpenAIAPI,
    make_openai: MakeOpenAI,
    all_logs: list[logging.LogRecord],
    script: Fault | ChatReply,
    reason: str,
    stream: bool,
) -> None:
    """Server errors, dropped connections, garbled replies and timeouts are retried."""
    timeout = 0.5 if reason == "ModelTimeout" else 30
    error = failure(make_openai, openai_api, script, stream=stream, timeoutSeconds=timeout)
    assert isinstance(error, TransientError), error
    assert error.reason == reason
    assert_no_key(error, all_logs, key=OPENAI_KEY)


def test_bad_tool_arguments_are_retried(openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI) -> None:
    """Tool arguments that are not a JSON object (and not cut by maxTokens) are worth a retry."""
    bad = {"id": "call_x", "type": "function", "function": {"name": "clock", "arguments": "[1"}}
    error = failure(make_openai, openai_api, ChatReply.tools(bad))
    assert isinstance(error, TransientError) and error.reason == "ModelReplyInvalid"


def test_one_http_request_per_call(openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI) -> None:
    """max_retries=0: a transient failure is one request; the retried call is the next one."""
    openai_api.enqueue(Fault.status_code(503), ChatReply.text("back"))
    model = make_openai()
    with pytest.raises(TransientError):
        model.complete(REQUEST)
    assert model.complete(REQUEST).text == "back"
    assert len(openai_api.requests) == 2


def test_400_is_permanent_with_the_api_explanation(
    openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI, all_logs: list[logging.LogRecord]
) -> None:
    """A rejected request fails with ModelRequestInvalid and what the server said."""
    fault = Fault.status_code(400, "Invalid 'messages[1].tool_call_id': not found")
    error = failure(make_openai, openai_api, fault)
    assert isinstance(error, PermanentError)
    assert error.reason == "ModelRequestInvalid"
    assert "tool_call_id" in error.message
    assert_no_key(error, all_logs, key=OPENAI_KEY)


def test_401_names_the_secret_not_the_key(
    openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI, all_logs: list[logging.LogRecord]
) -> None:
    """A wrong key fails naming where the key came from, never the key itself."""
    wrong = "sk-proj-wrong-key-123456"
    openai_api.enqueue(ChatReply.text("never sent"))
    with pytest.raises(PermanentError) as caught:
        make_openai(key=wrong).complete(REQUEST)
    error = caught.value
    assert error.reason == "ModelAuthenticationFailed"
    assert error.message.startswith(f"authentication failed: check {OPENAI_KEY_SOURCE}")
    assert_no_key(error, all_logs, key=wrong)


def test_403_is_permanent(openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI) -> None:
    """A key without access fails permanently, naming the Secret."""
    error = failure(make_openai, openai_api, Fault.status_code(403, "not allowed"))
    assert isinstance(error, PermanentError) and error.reason == "ModelAuthenticationFailed"
    assert OPENAI_KEY_SOURCE in error.message


def test_404_names_the_model(openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI) -> None:
    """An unknown model id (say a model vLLM does not serve) fails with its name."""
    openai_api.model_ids = frozenset({"gpt-5.1-mini"})
    error = failure(make_openai, openai_api, ChatReply.text("never"), model="llama-9-70b")
    assert isinstance(error, PermanentError) and error.reason == "ModelNotFound"
    assert error.message.startswith("model not found: llama-9-70b")


def test_echoed_key_is_redacted(
    openai_api: FakeOpenAIAPI, make_openai: MakeOpenAI, all_logs: list[logging.LogRecord]
) -> None:
    """An upstream error that echoes the key does not carry it into baton's error or logs."""
    error = failure(make_openai, openai_api, Fault.status_code(400, f"bad key {OPENAI_KEY}"))
    assert "[redacted]" in error.message
    assert error.__cause__ is None
    assert_no_key(error, all_logs, key=OPENAI_KEY)


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
