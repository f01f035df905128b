"""The run's status helpers and the optimistic write loop every transition uses."""

from __future__ import annotations

import pytest

from events.envelope import RunRef
from events.errors import TransientError
from functions.agentrun import (
    get_run,
    parse_duration,
    parse_time,
    rfc3339,
    set_condition,
    transact,
)
from functions.ports import Conflict


def test_transact_writes_the_decision_with_the_time(h):
    """decide edits a copy of status; the write carries it and lastEventTime."""
    run = h.world()
    written = transact(h.deps, RunRef.of(run), lambda r, st: st.update(phase="X") or True)
    assert written["status"] == {"phase": "X", "lastEventTime": rfc3339(h.clock.now())}
    assert h.status() == written["status"]


def test_a_stale_decision_writes_nothing(h):
    """decide returning False means the event is stale: no write, None."""
    run = h.world()
    assert transact(h.deps, RunRef.of(run), lambda r, st: False) is None
    assert h.store.status_writes == 0


def test_a_concurrent_write_is_retried_on_the_fresh_state(h):
    """Another replica wrote between read and write: decide runs again on what it wrote."""
    run = h.world()
    seen = []

    def decide(current, st):
        seen.append(dict(st))
        if len(seen) == 1:  # another writer gets in first
            other = h.get()
            other["status"] = {"toolCalls": 1}
            h.store.update_status(other)
        st["toolCalls"] = st.get("toolCalls", 0) + 1
        return True

    transact(h.deps, RunRef.of(run), decide)
    assert [s.get("toolCalls") for s in seen] == [None, 1]
    assert h.status()["toolCalls"] == 2


def test_endless_conflicts_become_a_transient_error(h):
    """After 16 conflicts in a row the event is retried later (WriteConflict)."""
    run = h.world()
    for _ in range(16):
        h.store.fail_next("update_status", Conflict("modified"))
    with pytest.raises(TransientError) as caught:
        transact(h.deps, RunRef.of(run), lambda r, st: True)
    assert caught.value.reason == "WriteConflict"


def test_a_run_that_is_gone_or_replaced_is_not_written(h):
    """No run, or a run of the same name with another uid: None, nothing written."""
    run = h.world()
    assert transact(h.deps, RunRef("default", "nope", ""), lambda r, st: True) is None
    assert transact(h.deps, RunRef("default", "r1", "other-uid"), lambda r, st: True) is None
    assert get_run(h.deps, RunRef("default", "r1", "")) == run
    assert h.store.status_writes == 0


def test_a_condition_keeps_its_transition_time_while_unchanged():
    """lastTransitionTime moves only when the condition's status flips."""
    st: dict = {}
    set_condition(st, "Ready", False, "Waiting", "a", 100.0)
    set_condition(st, "Ready", False, "StillWaiting", "b", 200.0)
    (cond,) = st["conditions"]
    assert (cond["reason"], cond["message"], cond["lastTransitionTime"]) == (
        "StillWaiting",
        "b",
        rfc3339(100.0),
    )
    set_condition(st, "Ready", True, "Done", "c", 300.0)
    assert st["conditions"][0]["lastTransitionTime"] == rfc3339(300.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45), ("1h30m", 5400), ("250ms", 0.25), ("1m30s", 90), ("1.5s", 1.5), ("", None)],
)
def test_durations(text, seconds):
    """Go-style durations in seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5", "5x", "m", "1h5"])
def test_bad_durations_are_refused(text):
    """A number without unit or an unknown unit is a ValueError."""
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_timestamps_round_trip_to_the_millisecond():
    """rfc3339 writes UTC with ms; parse_time reads it (and second-precision Z) back."""
    assert rfc3339(1_800_000_000.1234) == "2027-01-15T08:00:00.123Z"
    assert parse_time(rfc3339(1_800_000_000.5)) == 1_800_000_000.5
    assert parse_time("2027-01-15T08:00:00Z") == 1_800_000_000.0
    assert parse_time(None) is None
