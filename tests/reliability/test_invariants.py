"""The chaos checker finds each broken promise, and excuses only a call whose caller died."""

from __future__ import annotations

from typing import Any

from functions.run.status import rfc3339
from tests.fakes.store import FakeStore
from tests.reliability.invariants import LATENESS_LIMIT, Kill, ModelCall, check

T0 = 1_800_000_000.0
CALLER = 4242


def _store(phase: str = "Succeeded", total: int = 282, done: float = T0 + 2) -> FakeStore:
    store = FakeStore()
    run = store.create(
        {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "AgentRun",
            "metadata": {"name": "r1", "namespace": "default"},
            "spec": {"agentRef": {"name": "a"}, "task": "t"},
        }
    )
    run["status"] = {"phase": phase, "tokenUsage": {"total": total}, "completedAt": rfc3339(done)}
    store.update_status(run)
    return store


def _uid(store: FakeStore) -> str:
    return str(store.get("AgentRun", "default", "r1")["metadata"]["uid"])


def _model_calls(uid: str, *steps: tuple[int, float], pid: int = CALLER) -> list[ModelCall]:
    return [ModelCall(at, f"{uid}/{step}/call_llm", pid) for step, at in steps]


def _effect(uid: str, at: float, ppid: int = CALLER) -> dict[str, Any]:
    return {"idempotencyKey": f"{uid}/1/call_tool/t1", "ppid": ppid, "time": at}


def _verdict(store: FakeStore, effects: list[dict[str, Any]], calls: Any, kills: Any = ()) -> Any:
    return check(store, {"r1": T0}, effects, calls, list(kills))


def test_a_run_kept_every_promise_is_not_broken() -> None:
    """One effect, one call per step, tokens of both steps, on time: nothing broken."""
    store = _store()
    uid = _uid(store)
    verdict = _verdict(store, [_effect(uid, T0 + 1)], _model_calls(uid, (1, T0), (2, T0 + 1)))
    assert verdict.broken() == {}
    assert (verdict.terminal, verdict.terminal_pct) == (1, 100.0)


def test_a_tool_run_twice_by_a_live_caller_is_a_duplicate_effect() -> None:
    """Two executions with one key and no kill of the first caller: a duplicate."""
    store = _store()
    uid = _uid(store)
    effects = [_effect(uid, T0 + 1), _effect(uid, T0 + 1.5, ppid=7)]
    verdict = _verdict(store, effects, _model_calls(uid, (1, T0), (2, T0 + 1)))
    assert list(verdict.duplicate_tool_effects) == [f"{uid}/1/call_tool/t1"]
    assert verdict.duplicate_tool_effects[f"{uid}/1/call_tool/t1"].startswith("2 calls: pid 4242")


def test_a_tool_rerun_after_its_caller_was_killed_is_excused() -> None:
    """The first caller SIGKILLed after the call began: the re-run carries the key, no duplicate."""
    store = _store()
    uid = _uid(store)
    effects = [_effect(uid, T0 + 1), _effect(uid, T0 + 5, ppid=7)]
    kills = [Kill(T0 + 1.2, "worker", frozenset({CALLER, 99}), calls_model=True)]
    verdict = _verdict(store, effects, _model_calls(uid, (1, T0), (2, T0 + 1)), kills)
    assert verdict.duplicate_tool_effects == {}


def test_a_model_call_repeated_without_a_kill_is_a_duplicate() -> None:
    """Step 1 asked twice while every call_llm process lived: a duplicate model call."""
    store = _store()
    uid = _uid(store)
    calls = _model_calls(uid, (1, T0), (1, T0 + 3), (2, T0 + 4))
    kills = [Kill(T0 + 0.5, "source", frozenset({1}), calls_model=False)]
    verdict = _verdict(store, [_effect(uid, T0 + 1)], calls, kills)
    assert list(verdict.duplicate_model_calls) == [f"{uid}/1/call_llm"]
    assert verdict.duplicate_model_calls[f"{uid}/1/call_llm"].startswith("2 calls: pid 4242")


def test_a_model_call_repeated_after_its_caller_was_killed_is_excused() -> None:
    """The process that asked was SIGKILLed mid-call: asking again is no duplicate."""
    store = _store()
    uid = _uid(store)
    calls = _model_calls(uid, (1, T0), (1, T0 + 3), (2, T0 + 4))
    kills = [Kill(T0 + 0.05, "worker", frozenset({CALLER}), calls_model=True)]
    verdict = _verdict(store, [_effect(uid, T0 + 1)], calls, kills)
    assert verdict.duplicate_model_calls == {}


def test_tokens_counted_twice_are_reported() -> None:
    """Status tokens above one reply per step are reported with the expected count."""
    store = _store(total=282 + 120)
    uid = _uid(store)
    verdict = _verdict(store, [_effect(uid, T0 + 1)], _model_calls(uid, (1, T0), (2, T0 + 1)))
    assert verdict.token_mismatches == {"r1": (402, 282)}


def test_an_accepted_request_without_its_run_is_lost() -> None:
    """A request accepted whose run was never created is lost."""
    verdict = check(FakeStore(), {"r1": T0}, [], [], [])
    assert verdict.lost == ["r1"]


def test_a_run_not_terminal_or_late_is_reported() -> None:
    """A run still Running is unfinished; one done long after its work is late."""
    running = _verdict(_store(phase="Running"), [], [])
    assert running.unfinished == ["r1 (Running/None)"]
    late = _store(done=T0 + LATENESS_LIMIT + 5)
    uid = _uid(late)
    verdict = _verdict(late, [_effect(uid, T0 + 1)], _model_calls(uid, (1, T0), (2, T0 + 1)))
    assert list(verdict.late) == ["r1"]
