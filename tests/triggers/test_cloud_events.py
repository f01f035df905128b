"""CloudEvents from another system start runs through an AgentTrigger's filter and condition."""

from __future__ import annotations

from typing import Any

import pytest

from events.envelope import make_event
from functions import trigger as trigger_function
from functions.ports import Deps, Invalid
from functions.resources.sqlite import SqliteStore
from functions.trigger.fire import flush
from tests.fakes.clock import FakeClock
from tests.triggers.conftest import runs_of, trigger

PUSH = "com.github.push"


def _push(id_: str, ref: str = "refs/heads/main", repo: str = "acme/shop") -> Any:
    data = {"ref": ref, "repository": {"full_name": repo}, "pusher": {"name": "ana"}}
    return make_event(PUSH, "/github/acme", data, id_=id_)


def _github_trigger(**spec: Any) -> dict[str, Any]:
    return trigger(
        "on-push",
        {"cloudEvent": {"type": PUSH}},
        "Review the push of {{ data.pusher.name }} to {{ data.repository.full_name }}",
        **spec,
    )


def test_a_matching_event_starts_one_run_named_after_the_trigger(
    store: SqliteStore, deps: Deps
) -> None:
    """The run has the rendered task, the trigger's label and ownerReference, and the event."""
    created = store.create(_github_trigger())
    trigger_function.handle(_push("d1"), deps)
    [run] = runs_of(store, "on-push")
    assert run["spec"]["task"] == "Review the push of ana to acme/shop"
    assert run["spec"]["agentRef"] == {"name": "sre"}
    owner = run["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "AgentTrigger", "on-push", created["metadata"]["uid"],
    )  # fmt: skip
    assert "/github/acme#d1" in run["metadata"]["annotations"]["baton.dev/trigger-event"]
    status = store.get("AgentTrigger", "default", "on-push")["status"]
    assert status["runsStarted"] == 1
    assert status["lastRun"] == run["metadata"]["name"]
    assert status["lastEvent"] == {"id": "d1", "source": "/github/acme", "type": PUSH}


def test_the_same_event_delivered_again_starts_no_second_run(
    store: SqliteStore, deps: Deps
) -> None:
    """A redelivery converges on the first run and counts nothing twice."""
    store.create(_github_trigger())
    for _ in range(3):
        trigger_function.handle(_push("d1"), deps)
    assert len(runs_of(store, "on-push")) == 1
    assert store.get("AgentTrigger", "default", "on-push")["status"]["runsStarted"] == 1


def test_events_of_other_types_and_false_conditions_start_nothing(
    store: SqliteStore, deps: Deps, clock: FakeClock
) -> None:
    """Other types never reach the trigger; a false ``when`` is counted as filtered."""
    store.create(_github_trigger(when='data.ref == "refs/heads/main"'))
    trigger_function.handle(make_event("com.github.star", "/github/acme", {}, id_="s1"), deps)
    trigger_function.handle(_push("d1", ref="refs/heads/feature"), deps)
    trigger_function.handle(_push("d2", ref="refs/heads/feature"), deps)
    assert runs_of(store, "on-push") == []
    flush(deps, ("default", "on-push"))
    status = store.get("AgentTrigger", "default", "on-push")["status"]
    assert status["eventsDropped"] == {"filtered": 2}
    assert status["lastDropped"]["reason"] == "filtered"
    trigger_function.handle(_push("d3"), deps)
    assert len(runs_of(store, "on-push")) == 1


def test_a_dedupe_key_allows_one_run_per_window(
    store: SqliteStore, deps: Deps, clock: FakeClock
) -> None:
    """One run per repository per 10 minutes, however many pushes; another after the window."""
    store.create(
        _github_trigger(dedupe={"key": "{{ data.repository.full_name }}", "window": "10m"})
    )
    for i in range(5):
        trigger_function.handle(_push(f"a{i}"), deps)
    trigger_function.handle(_push("b0", repo="acme/other"), deps)
    assert len(runs_of(store, "on-push")) == 2
    clock.advance(601)
    trigger_function.handle(_push("a9"), deps)
    assert len(runs_of(store, "on-push")) == 3
    status = store.get("AgentTrigger", "default", "on-push")["status"]
    assert status["eventsDropped"] == {"deduplicated": 4}
    assert status["runsStarted"] == 3


def test_the_rate_limit_caps_runs_per_period(
    store: SqliteStore, deps: Deps, clock: FakeClock
) -> None:
    """Two runs a minute: the third and later events in the minute start nothing."""
    store.create(_github_trigger(rateLimit={"runs": 2, "per": "1m"}))
    for i in range(5):
        trigger_function.handle(_push(f"r{i}"), deps)
    assert len(runs_of(store, "on-push")) == 2
    clock.advance(61)
    trigger_function.handle(_push("r9"), deps)
    assert len(runs_of(store, "on-push")) == 3
    status = store.get("AgentTrigger", "default", "on-push")["status"]
    assert status["eventsDropped"] == {"rateLimited": 3}


def _finish(store: SqliteStore, run: dict[str, Any], phase: str = "Succeeded") -> None:
    current = store.get("AgentRun", "default", run["metadata"]["name"])
    store.update_status({**current, "status": {**(current.get("status") or {}), "phase": phase}})


def test_forbid_drops_events_while_the_last_run_for_the_key_still_runs(
    store: SqliteStore, deps: Deps
) -> None:
    """concurrencyPolicy Forbid: no second run until the first finished."""
    store.create(_github_trigger(concurrencyPolicy="Forbid"))
    trigger_function.handle(_push("f1"), deps)
    trigger_function.handle(_push("f2"), deps)
    [first] = runs_of(store, "on-push")
    _finish(store, first)
    trigger_function.handle(_push("f3"), deps)
    assert len(runs_of(store, "on-push")) == 2
    flush(deps, ("default", "on-push"))
    status = store.get("AgentTrigger", "default", "on-push")["status"]
    assert status["eventsDropped"] == {"forbidden": 1}


def test_replace_cancels_the_running_run_and_starts_a_new_one(
    store: SqliteStore, deps: Deps, clock: FakeClock
) -> None:
    """concurrencyPolicy Replace: the old run is asked to cancel (as ``baton cancel`` does)."""
    store.create(_github_trigger(concurrencyPolicy="Replace"))
    trigger_function.handle(_push("p1"), deps)
    clock.advance(1)
    trigger_function.handle(_push("p2"), deps)
    old, new = runs_of(store, "on-push")
    old = store.get("AgentRun", "default", old["metadata"]["name"])
    assert old["metadata"]["annotations"]["baton.dev/cancel"] == "trigger/on-push"
    assert "baton.dev/cancel" not in new["metadata"].get("annotations", {})


def test_history_limits_delete_the_oldest_finished_runs(
    store: SqliteStore, deps: Deps, clock: FakeClock
) -> None:
    """successfulRunsHistoryLimit 1: only the newest Succeeded run of the trigger is kept
    (looked at when a run starts, at most once a minute)."""
    store.create(_github_trigger(successfulRunsHistoryLimit=1, failedRunsHistoryLimit=1))
    names = []
    for i in range(3):
        trigger_function.handle(_push(f"h{i}"), deps)
        names.append(runs_of(store, "on-push")[-1]["metadata"]["name"])
        _finish(store, runs_of(store, "on-push")[-1])
        clock.advance(1)
    trigger_function.handle(_push("h8"), deps)
    assert len(runs_of(store, "on-push")) == 4  # pruned less than a minute ago
    clock.advance(60)
    trigger_function.handle(_push("h9"), deps)
    kept = runs_of(store, "on-push")
    assert kept[0]["metadata"]["name"] == names[-1]
    assert [(r.get("status") or {}).get("phase") for r in kept] == ["Succeeded", None, None]


def test_a_template_field_the_event_lacks_is_reported_on_the_trigger(
    store: SqliteStore, deps: Deps
) -> None:
    """No run with a half-rendered task: the trigger says which field was missing."""
    store.create(
        trigger("on-push", {"cloudEvent": {"type": PUSH}}, "Look at {{ data.head_commit.id }}")
    )
    trigger_function.handle(_push("t1"), deps)
    assert runs_of(store, "on-push") == []
    status = store.get("AgentTrigger", "default", "on-push")["status"]
    [cond] = [c for c in status["conditions"] if c["type"] == "TaskRendered"]
    assert cond["status"] == "False"
    assert "data.head_commit is missing" in cond["message"]
    assert status["eventsDropped"] == {"templateError": 1}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("when", 'data.ref == "main" &&\n  data.x ==', "spec.when: Invalid value: line 2, column"),
        ("when", 'evnt.type == "x"', "line 1, column 1: undeclared reference to 'evnt'"),
        ("run", {"task": "{% if %}"}, "spec.run.task: Invalid value: line 1"),
        ("source", {"schedule": {"cron": "61 * * * *"}}, "spec.source.schedule"),
        ("source", {"schedule": {"cron": "@daily", "timeZone": "Mars/Olympus"}}, "Mars/Olympus"),
    ],
)
def test_a_trigger_that_cannot_work_is_refused_when_applied(
    store: SqliteStore, field: str, value: Any, expected: str
) -> None:
    """The store refuses it with the field and the position, before anything is written."""
    bad = _github_trigger()
    bad["spec"][field] = value
    with pytest.raises(Invalid) as refused:
        store.create(bad)
    assert expected in str(refused.value)
    assert store.list("AgentTrigger") == []
