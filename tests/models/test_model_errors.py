"""Every provider's API failures map to the same TransientError (retry) or PermanentError."""

from __future__ import annotations

import logging

import pytest

from events.errors import PermanentError, TransientError
from tests.fakes.messages_api import Fault
from tests.models.conftest import REQUEST, Provider, assert_no_key, failure


def test_429_is_transient_with_retry_after(
    provider: Provider, all_logs: list[logging.LogRecord]
) -> None:
    """A rate limit asks for a retry after the server's retry-after seconds."""
    error = failure(provider.make, provider.api, Fault.status_code(429, "slow down", retry_after=7))
    assert isinstance(error, TransientError)
    assert (error.delay, error.reason) == (7.0, "ModelRateLimited")
    assert "slow down" in error.message
    assert_no_key(error, all_logs, key=provider.key)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.status_code(529, "Overloaded"), "ModelOverloaded"),
        (Fault.status_code(500, "Internal"), "ModelUnavailable"),
        (Fault.status_code(503, "Unavailable"), "ModelUnavailable"),
        (Fault(kind="drop"), "ModelUnreachable"),
        (Fault(kind="drop_mid_stream"), "ModelUnreachable"),
        (Fault(kind="malformed"), "ModelReplyInvalid"),
    ],
    ids=["529", "500", "503", "drop", "drop-mid-stream", "malformed"],
)
def test_transient_failures(
    provider: Provider,
    all_logs: list[logging.LogRecord],
    fault: Fault,
    reason: str,
    stream: bool,
) -> None:
    """Overload, server errors, dropped connections and garbled replies are retried."""
    error = failure(provider.make, provider.api, fault, stream=stream)
    assert isinstance(error, TransientError), error
    assert error.reason == reason
    assert_no_key(error, all_logs, key=provider.key)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_timeout_is_transient(
    provider: Provider, all_logs: list[logging.LogRecord], stream: bool
) -> None:
    """A reply slower than timeoutSeconds is retried as ModelTimeout."""
    # Only this test gets a short timeout: a loaded machine must not turn the others into
    # timeouts.
    late = provider.text("too late", delay=2.0)
    error = failure(provider.make, provider.api, late, stream=stream, timeoutSeconds=0.5)
    assert isinstance(error, TransientError) and error.reason == "ModelTimeout"
    assert_no_key(error, all_logs, key=provider.key)


def test_transient_then_success(provider: Provider) -> None:
    """max_retries=0: a transient failure is one request; the retried call is the next one."""
    provider.api.enqueue(Fault.status_code(503), provider.text("back"))  # type: ignore[arg-type]
    model = provider.make()
    with pytest.raises(TransientError):
        model.complete(REQUEST)
    assert model.complete(REQUEST).text == "back"
    assert len(provider.api.requests) == 2


def test_400_is_permanent_with_the_api_explanation(
    provider: Provider, all_logs: list[logging.LogRecord]
) -> None:
    """A rejected request fails with ModelRequestInvalid and what the server said."""
    fault = Fault.status_code(400, "max_tokens: must be greater than thinking.budget_tokens")
    error = failure(provider.make, provider.api, fault)
    assert isinstance(error, PermanentError)
    assert error.reason == "ModelRequestInvalid"
    assert "must be greater than thinking.budget_tokens" in error.message
    assert_no_key(error, all_logs, key=provider.key)


def test_401_names_the_secret_not_the_key(
    provider: Provider, all_logs: list[logging.LogRecord]
) -> None:
    """A wrong key fails naming where the key came from, never the key itself."""
    wrong = "sk-wrong-key-123456"
    provider.api.enqueue(provider.text("never sent"))  # type: ignore[arg-type]
    with pytest.raises(PermanentError) as caught:
        provider.make(key=wrong).complete(REQUEST)
    error = caught.value
    assert error.reason == "ModelAuthenticationFailed"
    assert error.message.startswith(f"authentication failed: check {provider.key_source}")
    assert_no_key(error, all_logs, key=wrong)


def test_403_is_permanent(provider: Provider, all_logs: list[logging.LogRecord]) -> None:
    """A key without access fails permanently, naming the Secret."""
    error = failure(provider.make, provider.api, Fault.status_code(403, "no access to this model"))
    assert isinstance(error, PermanentError)
    assert error.reason == "ModelAuthenticationFailed"
    assert provider.key_source in error.message
    assert_no_key(error, all_logs, key=provider.key)


def test_404_names_the_model(provider: Provider, all_logs: list[logging.LogRecord]) -> None:
    """An unknown model id (say one a vLLM server does not serve) fails with its name."""
    provider.api.model_ids = frozenset({"served-model"})
    error = failure(provider.make, provider.api, provider.text("never"), model="unserved-model-9")
    assert isinstance(error, PermanentError)
    assert error.reason == "ModelNotFound"
    assert error.message.startswith("model not found: unserved-model-9")
    assert_no_key(error, all_logs, key=provider.key)


def test_echoed_key_is_redacted(provider: Provider, all_logs: list[logging.LogRecord]) -> None:
    """An upstream error that echoes the key does not carry it into baton's error or logs."""
    error = failure(
        provider.make, provider.api, Fault.status_code(400, f"bad header value {provider.key}")
    )
    assert "[redacted]" in error.message
    assert error.__cause__ is None
    assert_no_key(error, all_logs, key=provider.key)
