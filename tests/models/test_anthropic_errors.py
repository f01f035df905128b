"""Anthropic's own failure shapes (the shared ones are in test_model_errors)."""

from __future__ import annotations

import logging

import pytest

from events.errors import TransientError
from tests.fakes.messages_api import FakeMessagesAPI, Fault
from tests.models.conftest import MakeModel, assert_no_key, failure


def test_429_retry_after_ms_wins(api: FakeMessagesAPI, make_model: MakeModel) -> None:
    """The finer retry-after-ms header is preferred when the server sends both."""
    fault = Fault(status=429, headers={"retry-after-ms": "1500", "retry-after": "2"})
    error = failure(make_model, api, fault)
    assert isinstance(error, TransientError) and error.delay == 1.5


@pytest.mark.parametrize("stream", [False, True])
def test_stream_error_is_overload(
    api: FakeMessagesAPI, make_model: MakeModel, all_logs: list[logging.LogRecord], stream: bool
) -> None:
    """An overloaded_error event mid-stream (or a 529 without streaming) is retried."""
    fault = Fault(kind="stream_error", message="Overloaded")
    error = failure(make_model, api, fault, stream=stream)
    assert isinstance(error, TransientError), error
    assert error.reason == "ModelOverloaded"
    assert_no_key(error, all_logs)
