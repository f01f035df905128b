"""The JetStream bus on a real nats-server: routing, duplicates, retries, dead letters."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from cloudevents.core.base import BaseCloudEvent

from events.bus import DEAD_LETTER_MESSAGE, DEAD_LETTER_REASON, Subscription
from events.buses.jetstream import dead_letter_subject, subject_for
from events.envelope import CloudEvent
from events.errors import PermanentError, TransientError
from events.types import LLM_REQUESTED, RESOURCE_ADD, RUN_ACCEPTED, RUN_REQUESTED
from tests.fakes.events import valid_event
from tests.nats.conftest import MakeBus, Recorder, with_jetstream


def _event(type_: str, id_: str, **extensions: str) -> CloudEvent:
    return valid_event(type_, id_, extensions=extensions)


def test_events_reach_the_durable_consumer_of_the_function_that_takes_their_type(
    make_bus: MakeBus, nats_url: str
) -> None:
    """Each function gets only its own types, through a durable consumer named after it."""
    validate, prepare = Recorder(), Recorder()
    bus = make_bus()
    bus.subscribe(
        Subscription("validate", {"type": RUN_REQUESTED}, lambda e: validate.add(e) or [])
    )
    bus.subscribe(Subscription("prepare", {"type": RUN_ACCEPTED}, lambda e: prepare.add(e) or []))

    bus.publish(_event(RUN_REQUESTED, "a"))
    bus.publish(_event(RUN_ACCEPTED, "b"))

    assert [e.get_id() for e in validate.wait_for(1)] == ["a"]
    assert [e.get_id() for e in prepare.wait_for(1)] == ["b"]

    async def consumers(js: Any) -> dict[str, Any]:
        return {name: await js.consumer_info("BATON", name) for name in ("validate", "prepare")}

    info = with_jetstream(nats_url, consumers)
    assert info["validate"].config.durable_name == "validate"
    assert info["validate"].config.filter_subject == "baton.run.requested"
    assert info["prepare"].config.filter_subject == "baton.run.accepted"
    assert validate.events == [validate.events[0]]  # nothing of prepare's arrived there


def test_a_handler_chain_passes_returned_events_on(make_bus: MakeBus) -> None:
    """What a handler returns is published and reaches the next function."""
    finished = Recorder()
    bus = make_bus()

    def validate(event: BaseCloudEvent) -> list[CloudEvent]:
        return [_event(RUN_ACCEPTED, f"{event.get_id()}/accepted")]

    bus.subscribe(Subscription("validate", {"type": RUN_REQUESTED}, validate))
    bus.subscribe(Subscription("prepare", {"type": RUN_ACCEPTED}, lambda e: finished.add(e) or []))
    bus.publish(_event(RUN_REQUESTED, "run-1"))

    assert finished.wait_for(1)[0].get_id() == "run-1/accepted"


def test_the_same_event_published_three_times_is_handled_once(
    make_bus: MakeBus, nats_url: str
) -> None:
    """Repeats of an id inside the duplicate window never reach the handler."""
    seen = Recorder()
    bus = make_bus(concurrency=1)
    bus.subscribe(Subscription("call_llm", {"type": LLM_REQUESTED}, lambda e: seen.add(e) or []))

    for _ in range(3):
        bus.publish(_event(LLM_REQUESTED, "uid/1/prepare_context"))
    bus.publish(_event(LLM_REQUESTED, "uid/2/prepare_context"))  # in order after the repeats

    assert [e.get_id() for e in seen.wait_for(2)] == [
        "uid/1/prepare_context",
        "uid/2/prepare_context",
    ]

    async def stored(js: Any) -> int:
        return int((await js.stream_info("BATON")).state.messages)

    assert with_jetstream(nats_url, stored) == 2


def test_extension_filters_are_applied_in_process_and_the_rest_acked(
    make_bus: MakeBus, nats_url: str
) -> None:
    """A filter on an extension (kind=AgentRun) takes only matching events; others are acked."""
    runs = Recorder()
    bus = make_bus(concurrency=1)
    bus.subscribe(
        Subscription(
            "validate", {"type": RESOURCE_ADD, "kind": "AgentRun"}, lambda e: runs.add(e) or []
        )
    )
    bus.publish(_event(RESOURCE_ADD, "agent-added", kind="Agent"))
    bus.publish(_event(RESOURCE_ADD, "run-added", kind="AgentRun"))

    assert [e.get_id() for e in runs.wait_for(1)] == ["run-added"]

    async def pending(js: Any) -> tuple[int, int]:
        # The handler saw the event a moment before its ack reached the server.
        deadline = time.monotonic() + 20
        while True:
            info = await js.consumer_info("BATON", "validate")
            counts = (info.num_ack_pending, info.num_pending)
            if counts == (0, 0) or time.monotonic() > deadline:
                return counts
            await asyncio.sleep(0.05)

    assert with_jetstream(nats_url, pending) == (0, 0)


def test_transient_error_is_redelivered_after_its_delay_then_succeeds(make_bus: MakeBus) -> None:
    """A TransientError naks with its delay; the next delivery succeeds and emits."""
    attempts: list[float] = []
    after = Recorder()
    bus = make_bus()

    def flaky(event: BaseCloudEvent) -> list[CloudEvent]:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise TransientError("model overloaded", delay=0.3)
        return [_event(RUN_ACCEPTED, "after-retry")]

    bus.subscribe(Subscription("call_llm", {"type": LLM_REQUESTED}, flaky))
    bus.subscribe(Subscription("next", {"type": RUN_ACCEPTED}, lambda e: after.add(e) or []))
    bus.publish(_event(LLM_REQUESTED, "flaky"))

    assert after.wait_for(1)[0].get_id() == "after-retry"
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 0.3  # the nak delay was honoured, not an instant retry


def test_permanent_error_dead_letters_the_event_with_its_reason(
    make_bus: MakeBus, nats_url: str
) -> None:
    """A PermanentError lands on baton.deadletter.<function> and reaches on_dead_letter once."""
    dead = Recorder()
    bus = make_bus()

    def refuse(event: BaseCloudEvent) -> list[CloudEvent]:
        raise PermanentError("the model API said 400", reason="ModelRejected")

    bus.subscribe(Subscription("call_llm", {"type": LLM_REQUESTED}, refuse))
    bus.on_dead_letter(lambda e: dead.add(e) or [])
    bus.publish(_event(LLM_REQUESTED, "poison", batonrun="default/r1"))

    letter = dead.wait_for(1)[0]
    assert letter.get_id() == "poison"
    assert letter.get_type() == LLM_REQUESTED
    assert letter.get_extension("batonrun") == "default/r1"
    assert letter.get_extension(DEAD_LETTER_REASON) == "ModelRejected"
    assert letter.get_extension(DEAD_LETTER_MESSAGE) == "the model API said 400"

    async def last_dead_letter(js: Any) -> Any:
        return await js.get_last_msg("BATON", dead_letter_subject("call_llm"))

    stored = with_jetstream(nats_url, last_dead_letter)
    assert stored.headers["ce-batonerror"] == "ModelRejected"


def test_a_handler_failing_past_max_deliver_is_dead_lettered(make_bus: MakeBus) -> None:
    """A handler that keeps failing transiently is tried max_deliver times, then dead-lettered."""
    calls = Recorder()
    dead = Recorder()
    bus = make_bus(max_deliver=3, backoff_base=0.05)

    def always_busy(event: BaseCloudEvent) -> list[CloudEvent]:
        calls.add(event)
        raise TransientError("rate limited", reason="RateLimited")

    bus.subscribe(Subscription("call_llm", {"type": LLM_REQUESTED}, always_busy))
    bus.on_dead_letter(lambda e: dead.add(e) or [])
    bus.publish(_event(LLM_REQUESTED, "stubborn"))

    letter = dead.wait_for(1)[0]
    assert len(calls.events) == 3
    assert letter.get_extension(DEAD_LETTER_REASON) == "MaxDeliveriesExceeded"
    assert "3 deliveries" in letter.get_extension(DEAD_LETTER_MESSAGE)
    assert "RateLimited" in letter.get_extension(DEAD_LETTER_MESSAGE)


def test_a_handler_running_past_ack_wait_is_not_redelivered(make_bus: MakeBus) -> None:
    """In-progress heartbeats keep a long handler's event from going to another delivery."""
    calls = Recorder()
    done = Recorder()
    # Heartbeats come every ack_wait / 2: 1 s of slack for a loaded machine's event loop,
    # where ack_wait 1.0 left 0.5 s between a late heartbeat and a second delivery.
    bus = make_bus(ack_wait=2.0)

    def slow(event: BaseCloudEvent) -> list[CloudEvent]:
        calls.add(event)
        time.sleep(5.0)  # a model call well past ack_wait
        return [_event(RUN_ACCEPTED, "slow-done")]

    bus.subscribe(Subscription("call_llm", {"type": LLM_REQUESTED}, slow))
    bus.subscribe(Subscription("next", {"type": RUN_ACCEPTED}, lambda e: done.add(e) or []))
    bus.publish(_event(LLM_REQUESTED, "long"))

    done.wait_for(1)
    assert len(calls.events) == 1


def test_subjects_are_derived_from_event_types() -> None:
    """baton and ApiServerSource types map to readable subjects under the prefix."""
    assert subject_for(LLM_REQUESTED) == "baton.llm.requested"
    assert subject_for(RESOURCE_ADD) == "baton.apiserver.resource.add"
    assert subject_for("com.example.thing") == "baton.ext.com.example.thing"
    assert dead_letter_subject("call_llm") == "baton.deadletter.call_llm"


def test_publishing_on_a_closed_bus_fails_instead_of_hanging(make_bus: MakeBus) -> None:
    """After close() a publish raises at once."""
    bus = make_bus()
    bus.close()
    with pytest.raises(RuntimeError, match="closed"):
        bus.publish(_event(RUN_REQUESTED, "late"))


def test_a_filter_without_a_type_sees_every_event_of_its_run_but_no_dead_letters(
    make_bus: MakeBus,
) -> None:
    """{"batonrun": ...} alone takes all of that run's events and never a dead-letter copy."""
    watched, dead = Recorder(), Recorder()
    bus = make_bus(concurrency=1)

    def refuse(event: BaseCloudEvent) -> list[CloudEvent]:
        raise PermanentError("no", reason="Refused")

    bus.subscribe(
        Subscription("watcher", {"batonrun": "default/r1"}, lambda e: watched.add(e) or [])
    )
    bus.subscribe(Subscription("call_llm", {"type": LLM_REQUESTED}, refuse))
    bus.on_dead_letter(lambda e: dead.add(e) or [])

    bus.publish(_event(LLM_REQUESTED, "r1-llm", batonrun="default/r1"))
    dead.wait_for(1)  # its dead-letter copy is on the stream now
    bus.publish(_event(RUN_ACCEPTED, "r2-accepted", batonrun="default/r2"))
    bus.publish(_event(RUN_ACCEPTED, "r1-accepted", batonrun="default/r1"))

    assert [e.get_id() for e in watched.wait_for(2)] == ["r1-llm", "r1-accepted"]


def test_a_restarted_worker_with_more_types_updates_its_durable_consumer(
    make_bus: MakeBus, nats_url: str
) -> None:
    """Stream and consumers are created idempotently; a changed filter set is applied."""
    first = make_bus()
    first.subscribe(Subscription("prepare", {"type": RUN_ACCEPTED}, lambda e: []))
    first.close()

    seen = Recorder()
    second = make_bus()
    for type_ in (RUN_ACCEPTED, LLM_REQUESTED):
        second.subscribe(Subscription("prepare", {"type": type_}, lambda e: seen.add(e) or []))
    second.publish(_event(LLM_REQUESTED, "new-type"))
    assert [e.get_id() for e in seen.wait_for(1)] == ["new-type"]

    async def filters(js: Any) -> list[str]:
        return sorted((await js.consumer_info("BATON", "prepare")).config.filter_subjects)

    assert with_jetstream(nats_url, filters) == ["baton.llm.requested", "baton.run.accepted"]
