"""Model API failures map to TransientError (retry) or PermanentError (fail the run)."""

from __future__ import annotations

import logging
import traceback

import pytest

from events.errors import BatonError, PermanentError, TransientError
from functions.ports import ModelRequest
from tests.fakes.messages_api import FakeMessagesAPI, Fault, Reply
from tests.models.conftest import API_KEY, KEY_SOURCE, MakeModel

REQUEST = ModelRequest(system="s", messages=[{"role": "user", "content": "hi"}])


def failure(
    model_call: MakeModel, api: FakeMessagesAPI, script: Fault | Reply, **spec: object
) -> BatonError:
    """Script one reply, make one call, return the baton error it raised."""
    api.enqueue(script)
    with pytest.raises(BatonError) as caught:
        model_call(**spec).complete(REQUEST)
    return caught.value


def assert_no_key(error: BaseException, logs: list[logging.LogRecord], key: str = API_KEY) -> None:
    """The key is in no exception text (the whole chain) and no log record."""
    assert key not in "".join(traceback.format_exception(error))
    for record in logs:
        assert key not in record.getMessage()
        if record.exc_info:
            assert key not in "".join(traceback.format_exception(*record.exc_info))


def test_429_is_transient_with_retry_after(
    api: FakeMessagesAPI, make_model: MakeModel, all_logs: list[logging.LogRecord]
) -> None:
    """A rate limit asks for a retry after the server's retry-after seconds."""
    error = failure(make_model, api, Fault.status_code(429, "slow down", retry_after=7))
    assert isinstance(error, TransientError)
    assert error.delay == 7.0
    assert error.reason == "ModelRateLimited"
    assert "slow down" in error.message
    assert_no_key(error, all_logs)


def test_429_retry_after_ms_wins(api: FakeMessagesAPI, make_model: MakeModel) -> None:
    """The finer retry-after-ms header is preferred when the server sends both."""
    fault = Fault(status=429, headers={"retry-after-ms": "1500", "retry-after": "2"})
    error = failure(make_model, api, fault)
    assert isinstance(error, TransientError) and error.delay == 1.5


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (Fault.status_code(529, "Overloaded"), "ModelOverloaded"),
        (Fault.status_code(500, "Internal"), "ModelUnavailable"),
        (Fault.status_code(503, "Unavailable"), "ModelUnavailable"),
        (Fault(kind="drop"), "ModelUnreachable"),
        (Fault(kind="drop_mid_stream"), "ModelUnreachable"),
        (Fault(kind="stream_error", message="Overloaded"), "ModelOverloaded"),
        (Fault(kind="malformed"), "ModelReplyInvalid"),
        (Reply.text("too late", delay=2.0), "ModelTimeout"),
    ],
    ids=["529", "500", "503", "drop", "drop-mid-stream", "stream-error", "malformed", "timeout"],
)
def test_transient_failures(
    api: FakeMessagesAPI,
    make_model: MakeModel,
    all_logs: list[logging.LogRecord],
    script: Fault | Reply,
    reason: str,
    stream: bool,
) -> None:
    """Overload, server errors, dropped connections, garbled replies and timeouts are retried."""
    # Only the timeout case gets a short timeout: a loaded machine must not turn the others
    # into timeouts.
    timeout = 0.5 if reason == "ModelTimeout" else 30
    error = failure(make_model, api, script, stream=stream, timeoutSeconds=timeout)
    assert isinstance(error, TransientError), error
    assert error.reason == reason
    assert_no_key(error, all_logs)


def test_transient_then_success(api: FakeMessagesAPI, make_model: MakeModel) -> None:
    """After a transient failure the same model answers the retried call."""
    api.enqueue(Fault.status_code(529), Reply.text("back"))
    model = make_model()
    with pytest.raises(TransientError):
        model.complete(REQUEST)
    assert model.complete(REQUEST).text == "back"
    assert len(api.requests) == 2  # max_retries=0: one HTTP request per call


def test_400_is_permanent_request_invalid(
    api: FakeMessagesAPI, make_model: MakeModel, all_logs: list[logging.LogRecord]
) -> None:
    """A rejected request fails with ModelRequestInvalid and the API's explanation."""
    fault = Fault.status_code(400, "max_tokens: must be greater than thinking.budget_tokens")
    error = failure(make_model, api, fault)
    assert isinstance(error, PermanentError)
    assert error.reason == "ModelRequestInvalid"
    assert "must be greater than thinking.budget_tokens" in error.message
    assert_no_key(error, all_logs)


def test_401_names_the_secret_not_the_key(
    api: FakeMessagesAPI, make_model: MakeModel, all_logs: list[logging.LogRecord]
) -> None:
    """A wrong key fails with a message naming where the key came from, never the key."""
    wrong = "sk-ant-wrong-key-123456"
    api.enqueue(Reply.text("never sent"))
    with pytest.raises(PermanentError) as caught:
        make_model(key=wrong).complete(REQUEST)
    error = caught.value
    assert error.reason == "ModelAuthenticationFailed"
    assert error.message.startswith(f"authentication failed: check {KEY_SOURCE}")
    assert_no_key(error, all_logs, key=wrong)


def test_403_is_permanent(
    api: FakeMessagesAPI, make_model: MakeModel, all_logs: list[logging.LogRecord]
) -> None:
    """A key without permission fails permanently, naming the Secret."""
    error = failure(make_model, api, Fault.status_code(403, "no access to this model"))
    assert isinstance(error, PermanentError)
    assert error.reason == "ModelAuthenticationFailed"
    assert KEY_SOURCE in error.message
    assert_no_key(error, all_logs)


def test_404_names_the_model(
    api: FakeMessagesAPI, make_model: MakeModel, all_logs: list[logging.LogRecord]
) -> None:
    """An unknown model id fails with 'model not found: <id>'."""
    api.model_ids = frozenset({"claude-sonnet-5-5"})
    error = failure(make_model, api, Reply.text("never"), model="claude-sonnet-9")
    assert isinstance(error, PermanentError)
    assert error.reason == "ModelNotFound"
    assert error.message.startswith("model not found: claude-sonnet-9")
    assert_no_key(error, all_logs)


def test_echoed_key_is_redacted(
    api: FakeMessagesAPI, make_model: MakeModel, all_logs: list[logging.LogRecord]
) -> None:
    """Even an upstream error that echoes the key does not carry it into baton's error."""
    error = failure(make_model, api, Fault.status_code(400, f"bad header value {API_KEY}"))
    assert "[redacted]" in error.message
    assert error.__cause__ is None
    assert_no_key(error, all_logs)
