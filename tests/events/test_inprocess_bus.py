"""The in-process bus: at-least-once delivery, retries, dead letters, dedupe, idleness."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from events.bus import DEAD_LETTER_MESSAGE, DEAD_LETTER_REASON, Subscription
from events.buses.inprocess import InProcessBus
from events.delivery import RetryPolicy
from events.envelope import make_event
from events.errors import PermanentError, TransientError

FAST = RetryPolicy(max_attempts=3, base=0.001, cap=0.01)


@pytest.fixture
def bus() -> Iterator[InProcessBus]:
    """A bus with quick retries, closed after the test."""
    b = InProcessBus(workers=8, retry=FAST)
    yield b
    b.close()


def ev(type_: str = "t.a", id_: str = "1", **data: object):
    return make_event(type_, "/test", dict(data), id_=id_)


class Calls:
    """A handler that records the events it got and runs ``then`` for each."""

    def __init__(self, then=None) -> None:
        self.events: list = []
        self.lock = threading.Lock()
        self.then = then

    def __call__(self, event):
        with self.lock:
            self.events.append(event)
            n = len(self.events)
        return self.then(event, n) if self.then else []

    @property
    def ids(self) -> list[str]:
        return [e.get_id() for e in self.events]


def test_matching_subscriptions_get_the_event_and_its_followers(bus):
    """Emitted events are published in turn; filters pick who gets what."""
    first = Calls(lambda e, n: [ev("t.b", "2")])
    second = Calls()
    bus.subscribe(Subscription("first", {"type": "t.a"}, first))
    bus.subscribe(Subscription("second", {"type": "t.b"}, second))
    bus.publish(ev())
    assert bus.wait_idle(10)
    assert (first.ids, second.ids) == (["1"], ["2"])


def test_a_transient_error_is_retried_until_it_succeeds(bus):
    """TransientError twice, then success: three attempts, no dead letter."""

    def flaky(event, n):
        if n < 3:
            raise TransientError("busy", delay=0.001)
        return [ev("t.done", "2")]

    calls, done = Calls(flaky), Calls()
    bus.subscribe(Subscription("f", {"type": "t.a"}, calls))
    bus.subscribe(Subscription("g", {"type": "t.done"}, done))
    bus.publish(ev())
    assert bus.wait_idle(10)
    assert (len(calls.events), done.ids, bus.dead_letters) == (3, ["2"], [])


def test_exhausted_retries_dead_letter_the_event_with_the_reason(bus):
    """Always transient: after max_attempts the event is dead-lettered with reason and count."""
    dead = Calls()
    bus.on_dead_letter(dead)

    def always(event, n):
        raise TransientError("model overloaded", reason="Overloaded")

    calls = Calls(always)
    bus.subscribe(Subscription("f", {"type": "t.a"}, calls))
    bus.publish(ev())
    assert bus.wait_idle(10)
    assert len(calls.events) == FAST.max_attempts
    (letter,) = dead.events
    assert letter.get_extension(DEAD_LETTER_REASON) == "Overloaded"
    assert "gave up after 3 attempts: model overloaded" in letter.get_extension(DEAD_LETTER_MESSAGE)
    assert letter.get_id() == "1" and bus.dead_letters[0].get_id() == "1"


def test_a_permanent_error_is_dead_lettered_at_once(bus):
    """PermanentError: one attempt, dead letter carries its reason and message."""
    dead = Calls()
    bus.on_dead_letter(dead)
    calls = Calls(lambda e, n: (_ for _ in ()).throw(PermanentError("bad input", reason="Nope")))
    bus.subscribe(Subscription("f", {"type": "t.a"}, calls))
    bus.publish(ev())
    assert bus.wait_idle(10)
    assert len(calls.events) == 1
    (letter,) = dead.events
    assert (
        letter.get_extension(DEAD_LETTER_REASON),
        letter.get_extension(DEAD_LETTER_MESSAGE),
    ) == ("Nope", "bad input")


def test_an_unexpected_exception_is_retried_then_dead_lettered_as_internal(bus):
    """A handler bug is retried like a 5xx and ends as InternalError naming the exception."""
    calls = Calls(lambda e, n: {}["missing"])
    bus.subscribe(Subscription("f", {"type": "t.a"}, calls))
    bus.publish(ev())
    assert bus.wait_idle(10)
    assert len(calls.events) == FAST.max_attempts
    (letter,) = bus.dead_letters
    assert letter.get_extension(DEAD_LETTER_REASON) == "InternalError"
    assert "KeyError" in letter.get_extension(DEAD_LETTER_MESSAGE)


def test_a_failing_dead_letter_handler_does_not_loop(bus):
    """The dead-letter handler failing for good is logged, not dead-lettered again."""
    dead = Calls(lambda e, n: (_ for _ in ()).throw(PermanentError("no")))
    bus.on_dead_letter(dead)
    bus.subscribe(
        Subscription(
            "f", {"type": "t.a"}, Calls(lambda e, n: (_ for _ in ()).throw(PermanentError("bad")))
        )
    )
    bus.publish(ev())
    assert bus.wait_idle(10)
    assert len(dead.events) == 1 and len(bus.dead_letters) == 1


def test_duplicate_ids_are_dropped_within_the_window():
    """A second publish of an id is dropped; once it left the window it is delivered again."""
    bus = InProcessBus(workers=2, retry=FAST, dedupe_window=2)
    try:
        calls, tapped = Calls(), []
        bus.tap(tapped.append)
        bus.subscribe(Subscription("f", {"type": "t.a"}, calls))
        for id_ in ("1", "1", "2", "3", "1"):
            bus.publish(ev(id_=id_))
        assert bus.wait_idle(10)
        assert sorted(calls.ids) == ["1", "1", "2", "3"]
        assert len(tapped) == 4
    finally:
        bus.close()


def test_wait_idle_waits_for_running_handlers(bus):
    """wait_idle is False while a handler runs and True once it returned."""
    release, started = threading.Event(), threading.Event()

    def blocked(event, n):
        started.set()
        release.wait(10)
        return []

    bus.subscribe(Subscription("f", {"type": "t.a"}, Calls(blocked)))
    bus.publish(ev())
    assert started.wait(10)
    assert bus.wait_idle(0.05) is False
    release.set()
    assert bus.wait_idle(10) is True


def test_wait_idle_counts_a_scheduled_retry_as_busy():
    """Between attempts the bus is not idle."""
    bus = InProcessBus(workers=2, retry=RetryPolicy(max_attempts=2, base=0.001))
    try:

        def later(event, n):
            if n == 1:
                raise TransientError("again", delay=3600)
            return []

        bus.subscribe(Subscription("f", {"type": "t.a"}, Calls(later)))
        bus.publish(ev())
        assert bus.wait_idle(0.2) is False
    finally:
        bus.close()


def test_a_slow_handler_does_not_block_other_deliveries(bus):
    """While one handler blocks, another event is delivered and handled."""
    other_done = threading.Event()
    saw_other = []

    def slow(event, n):
        saw_other.append(other_done.wait(10))
        return []

    def quick(event, n):
        other_done.set()
        return []

    bus.subscribe(Subscription("slow", {"type": "t.slow"}, Calls(slow)))
    bus.subscribe(Subscription("quick", {"type": "t.quick"}, Calls(quick)))
    bus.publish(ev("t.slow", "1"))
    bus.publish(ev("t.quick", "2"))
    assert bus.wait_idle(20)
    assert saw_other == [True]


def test_the_retry_policy_backs_off_exponentially_to_a_cap():
    """base * 2**(attempt-1), capped; an error's own delay wins, also capped."""
    policy = RetryPolicy(base=0.5, cap=3.0)
    assert [policy.delay(a, None) for a in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert (policy.delay(1, 7.0), policy.delay(1, -1.0)) == (3.0, 0.0)
