"""The run's status helpers and the one step every transition commits through."""

from __future__ import annotations

import pytest

from events.envelope import RunRef
from events.errors import TransientError
from functions.ports import Conflict
from functions.run.status import get_run, parse_duration, parse_time, rfc3339, set_condition
from functions.run.step import Outcome, advance
from functions.run.view import RunView


def _set(**fields):
    """A decision that writes ``fields`` into the status."""

    def decide(view: RunView) -> Outcome:
        st = view.edit()
        st.update(fields)
        return Outcome(st)

    return decide


def test_advance_commits_the_decision_with_the_time(h):
    """The decision's status is committed with lastEventTime, in one commit."""
    run = h.world()
    result = advance(h.deps, RunRef.of(run), _set(phase="X"))
    assert result.committed
    assert result.after["status"] == {"phase": "X", "lastEventTime": rfc3339(h.clock.now())}
    assert h.status() == result.after["status"]
    assert h.store.commits == 1


def test_a_stale_decision_writes_nothing(h):
    """An empty Outcome means the event is stale: no write, the run as read."""
    run = h.world()
    result = advance(h.deps, RunRef.of(run), lambda view: Outcome())
    assert not result.committed
    assert result.after == run
    assert h.store.status_writes == 0


def test_status_and_journal_land_in_one_commit(h):
    """Journal entries go with the status they belong to."""
    run = h.world()

    def decide(view: RunView) -> Outcome:
        return Outcome({"phase": "X"}, {"note/1": {"text": "hello"}})

    advance(h.deps, RunRef.of(run), decide)
    assert h.journal()["note/1"] == {"text": "hello"}
    assert h.store.commits == 1


def test_a_concurrent_write_is_decided_again_on_the_fresh_state(h):
    """Another replica wrote between read and commit: the decision runs again on what it wrote."""
    run = h.world()
    seen = []

    def decide(view: RunView) -> Outcome:
        seen.append(dict(view.status))
        if len(seen) == 1:  # another writer gets in first
            other = h.get()
            other["status"] = {"toolCalls": 1}
            h.store.update_status(other)
        st = view.edit()
        st["toolCalls"] = st.get("toolCalls", 0) + 1
        return Outcome(st)

    advance(h.deps, RunRef.of(run), decide, read=run)
    assert [s.get("toolCalls") for s in seen] == [None, 1]
    assert h.status()["toolCalls"] == 2


def test_endless_conflicts_become_a_transient_error(h):
    """After 16 conflicts in a row the event is retried later (WriteConflict)."""
    run = h.world()
    for _ in range(16):
        h.store.fail_next("commit", Conflict("modified"))
    with pytest.raises(TransientError) as caught:
        advance(h.deps, RunRef.of(run), _set(phase="X"))
    assert caught.value.reason == "WriteConflict"


def test_a_run_that_is_gone_or_replaced_is_not_written(h):
    """No run, or a run of the same name with another uid: nothing decided, nothing written."""
    run = h.world()
    assert advance(h.deps, RunRef("default", "nope", ""), _set(phase="X")).after is None
    assert advance(h.deps, RunRef("default", "r1", "other-uid"), _set(phase="X")).after is None
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
    [
        ("45s", 45),
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("1m30s", 90),
        ("1.5s", 1.5),
        ("1500us", 0.0015),
        ("2000000ns", 0.002),
        ("", None),
    ],
)
def test_durations(text, seconds):
    """Go-style durations in seconds, ns and us included (the CRD accepts them)."""
    assert (
        parse_duration(text) == pytest.approx(seconds) if seconds else parse_duration(text) is None
    )


def test_every_crd_duration_pattern_is_the_parsers():
    """The CRDs and the parser accept exactly the same strings: one pattern, written once."""
    import re
    from pathlib import Path

    import yaml

    from functions.run.status import DURATION_PATTERN

    def patterns(node):
        if isinstance(node, dict):
            if "ns|us|ms" in str(node.get("pattern", "")):
                yield node["pattern"]
            for value in node.values():
                yield from patterns(value)
        elif isinstance(node, list):
            for value in node:
                yield from patterns(value)

    found = []
    for path in sorted(Path("config/crd").glob("*.yaml")):
        found += list(patterns(yaml.safe_load(path.read_text())))
    assert len(found) >= 3  # Agent limits.timeout, AgentRun timeout and idleTTL
    assert set(found) == {DURATION_PATTERN}
    for text in ("1ns", "2us", "3ms", "4s", "5m", "6h", "1h2m3s4ms5us6ns"):
        assert re.fullmatch(DURATION_PATTERN, text)
        assert parse_duration(text) is not None


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
    # A commit stamps now and a claim now + 6 s, in turn: each keeps its own second.
    stamps = [rfc3339(1_800_000_000.0004 + k % 2 * 6 + (250 + k) / 1000) for k in range(200)]
    assert stamps[0] == "2027-01-15T08:00:00.250Z" and stamps[1] == "2027-01-15T08:00:06.251Z"
    assert stamps[-1] == "2027-01-15T08:00:06.449Z"
    assert all(t[:19] == ("2027-01-15T08:00:06" if k % 2 else "2027-01-15T08:00:00")
               for k, t in enumerate(stamps))  # fmt: skip
