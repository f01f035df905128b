"""Anthropic's own failure shapes (the shared ones are in test_model_errors)."""

from __future__ import annotations

import logging

import pytest

from events.errors import BatonError, TransientError
from functions.ports import ModelRequest
from tests.fakes.messages_api import FakeMessagesAPI, Fault, Reply
from tests.models.conftest import MakeModel, assert_no_key

REQUEST = ModelRequest(system="s", messages=[{"role": "user", "content": "hi"}])


def failure(
    model_call: MakeModel, api: FakeMessagesAPI, script: Fault | Reply, **spec: object
) -> BatonError:
    """Script one reply, make one call, return the baton error it raised."""
    api.enqueue(script)
    with pytest.raises(BatonError) as caught:
        model_call(**spec).complete(REQUEST)
    return caught.value


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
