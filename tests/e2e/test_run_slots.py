"""The embedded runtime runs transitions one at a time, and waits on models side by side.

On SQLite it lets one thread at a time run transition code (functions.runtime.gate): the
GIL runs one anyway, and threads taking turns cost CPU. A model, tool or chat call gives
the slot up while it waits, so runs still wait on their models at once; here three runs
can only finish if their three model calls are in flight together.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from functions.ports import ModelReply, ModelRequest, Resource
from functions.runtime.deps import build_deps
from functions.runtime.embedded import Embedded
from functions.runtime.gate import Gate
from tests.e2e.conftest import run_docs, sample, wait_terminal
from tests.fakes.model import answer

RUNS = 3


class _Rendezvous:
    """Models whose calls return only once ``parties`` of them are in flight together."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=20)

    def for_resource(self, model: Resource) -> Any:
        return self

    def for_models(self, models: Any) -> Any:
        return self

    def cost(self, model: Resource, usage: Any) -> str:
        return "0"

    def complete(self, request: ModelRequest) -> ModelReply:
        self.barrier.wait()  # BrokenBarrierError (the run fails) if the others never come
        return answer("together")


def test_model_calls_wait_together_while_one_thread_runs_transitions(embedded: Any) -> None:
    """Three runs meet inside their model calls, with a single slot for transitions."""
    probe: Embedded = embedded(sweep_interval=0)  # for its store
    rt: Embedded = embedded(
        sweep_interval=0,
        run_slots=1,
        store=probe.store,
        deps=replace(build_deps(probe.store), models=_Rendezvous(RUNS)),
    )
    probe.stop()
    docs = sample("hello")
    (run,) = [d for d in docs if d["kind"] == "AgentRun"]
    others = [d for d in docs if d["kind"] != "AgentRun"]
    copies = [{**run, "metadata": {**run["metadata"], "name": f"hello-{i}"}} for i in range(RUNS)]
    run_docs(rt, [*others, *copies])
    for i in range(RUNS):
        done = wait_terminal(rt, f"hello-{i}", timeout=30)
        assert (done["status"]["phase"], done["status"]["result"]) == ("Succeeded", "together")


def test_a_slot_is_held_by_one_thread_and_given_up_while_waiting() -> None:
    """held() admits ``slots`` threads; released() lets another in; held() nests."""
    gate = Gate(1)
    inside = threading.Event()
    entered: list[str] = []

    def second() -> None:
        with gate.held():
            entered.append("second")
            inside.set()

    with gate.held(), gate.held():  # nested: still one slot
        other = threading.Thread(target=second)
        other.start()
        assert not inside.wait(0.3)  # the one slot is taken
        with gate.released():
            assert inside.wait(10)  # given up: the other thread ran
        other.join(10)
    assert entered == ["second"]
    with pytest.raises(RuntimeError), gate.held():
        raise RuntimeError("a handler that fails")
    taken = threading.Thread(target=second)  # the failing handler gave its slot back
    inside.clear()
    taken.start()
    assert inside.wait(10)
    taken.join(10)
