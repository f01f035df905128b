"""A schedule trigger fires on time, once, and neither repeats nor loses a fire on restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from functions.ports import Deps
from functions.resources.sqlite import SqliteStore
from functions.runtime.triggers import TriggerFeeds
from tests.fakes.clock import START, FakeClock
from tests.triggers.conftest import runs_of, trigger

# 09:00 in Berlin is START (08:00 UTC in January).
DAILY = {"schedule": {"cron": "0 9 * * *", "timeZone": "Europe/Berlin"}}
TASK = "Write the daily report for {{ event.time }} ({{ data.timeZone }})"


def _restarted(deps: Deps, tmp_path: Path) -> TriggerFeeds:
    """Feeds of a new process: a new store object on the same database, nothing in memory."""
    fresh = SqliteStore(str(tmp_path / "state.db"))
    return TriggerFeeds(dataclasses.replace(deps, store=fresh))


def test_a_schedule_fires_once_on_time_and_not_again_after_a_restart(
    store: SqliteStore, deps: Deps, clock: FakeClock, tmp_path: Path
) -> None:
    """Before 09:00 nothing; at 09:00 one run; polls and a restart start no second one."""
    clock.t = START - 30
    store.create(trigger("daily", DAILY, TASK))
    feeds = TriggerFeeds(deps)
    feeds.poll_once()
    assert runs_of(store, "daily") == []
    clock.advance(31)
    feeds.poll_once()
    feeds.poll_once()
    [run] = runs_of(store, "daily")
    assert (
        run["spec"]["task"]
        == "Write the daily report for 2027-01-15T08:00:00+00:00 (Europe/Berlin)"
    )
    _restarted(deps, tmp_path).poll_once()
    assert len(runs_of(store, "daily")) == 1
    status = store.get("AgentTrigger", "default", "daily")["status"]
    assert status["lastScheduleTime"] == "2027-01-15T08:00:00.000Z"
    assert status["runsStarted"] == 1
    clock.advance(24 * 3600)
    feeds.poll_once()
    assert len(runs_of(store, "daily")) == 2


def test_a_fire_missed_while_down_happens_inside_the_grace_window_only(
    store: SqliteStore, deps: Deps, clock: FakeClock, tmp_path: Path
) -> None:
    """Down across 09:00: back at 09:03 it fires (grace 300 s); back at 09:10 the next day, not."""
    clock.t = START - 30
    store.create(trigger("daily", DAILY, TASK))
    TriggerFeeds(deps).poll_once()
    clock.advance(30 + 180)
    _restarted(deps, tmp_path).poll_once()
    assert len(runs_of(store, "daily")) == 1
    clock.advance(24 * 3600 + 420)
    _restarted(deps, tmp_path).poll_once()
    assert len(runs_of(store, "daily")) == 1
    clock.t = START + 2 * 24 * 3600 - 10
    feeds = TriggerFeeds(deps)
    feeds.poll_once()
    assert len(runs_of(store, "daily")) == 1
    clock.advance(15)
    feeds.poll_once()
    assert len(runs_of(store, "daily")) == 2
