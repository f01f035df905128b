"""A bus handler's outcomes as metrics: retries, failures, dead letters by reason."""

from __future__ import annotations

import pytest
from cloudevents.core.base import BaseCloudEvent

from events import types
from events.bus import DEAD_LETTER_REASON
from events.envelope import CloudEvent, make_event
from events.errors import PermanentError, TransientError
from functions.observe.instrument import measured_handler
from tests.observe.conftest import metric


def _raising(exc: Exception):  # type: ignore[no-untyped-def]
    def handle(event: BaseCloudEvent) -> list[CloudEvent]:
        raise exc

    return handle


def test_a_transient_failure_counts_as_a_retry_by_reason() -> None:
    """The bus will retry: the transition counts 'retry' and the reason is kept."""
    event = make_event(types.LLM_REQUESTED, "/t", {}, id_="e-1")
    before = metric("baton_retries_total", function="call_llm", reason="ModelOverloaded")
    handler = measured_handler(
        "call_llm", _raising(TransientError("529", reason="ModelOverloaded"))
    )
    with pytest.raises(TransientError):
        handler(event)
    assert (
        metric("baton_retries_total", function="call_llm", reason="ModelOverloaded") == before + 1
    )
    assert metric("baton_in_flight", kind="transition") == 0


def test_a_permanent_failure_and_a_dead_letter_are_counted() -> None:
    """A permanent failure is 'failed'; the dead_letter function counts the letter's reason."""
    event = make_event(types.TOOL_REQUESTED, "/t", {}, id_="e-2")
    failed = metric("baton_transitions_total", function="call_tool", outcome="failed")
    with pytest.raises(PermanentError):
        measured_handler("call_tool", _raising(PermanentError("no", reason="Bad")))(event)
    assert metric("baton_transitions_total", function="call_tool", outcome="failed") == failed + 1
    letter = make_event(
        types.TOOL_REQUESTED, "/t", {}, id_="e-3",
        extensions={DEAD_LETTER_REASON: "MaxDeliveries"},
    )  # fmt: skip
    reason = "MaxDeliveries"
    before = metric("baton_dead_letters_total", reason=reason)
    measured_handler("dead_letter", lambda e: [])(letter)
    assert metric("baton_dead_letters_total", reason=reason) == before + 1
