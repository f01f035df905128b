"""One chaos experiment: requests arrive at a steady pace while a seeded killer SIGKILLs
processes of the shape at random moments; then every accepted request is checked.

    verdict = run_chaos(fleet, runs=200, seed=7)
    assert not verdict.broken()
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Final

from functions.ports import NotFound
from functions.run.status import TERMINAL_PHASES
from tests.fakes.effect_tool import executions
from tests.fakes.messages_api import FakeMessagesAPI, RecordedRequest, Reply
from tests.reliability.chaos_world import (
    MODEL_LATENCY,
    NAMESPACE,
    answer,
    call_key,
    manifests,
    request_event,
    run_name,
)
from tests.reliability.fleets import Fleet
from tests.reliability.invariants import Kill, ModelCall, Verdict, check
from tests.reliability.peers import pid_of_client
from tests.reliability.timeline import timeline

__all__ = ["Killer", "TimedAnswers", "run_chaos"]

DEADLINE: Final = 60.0  # seconds after the last request for every run to be terminal
# At most WINDOW runs in flight: lateness then measures how fast a shape repairs what a kill
# broke, not the backlog of a machine shared with other work. A shape whose runs stall fills
# the window; submitting stops after SUBMIT_BUDGET times the planned time.
WINDOW: Final = 16
SUBMIT_BUDGET: Final = 3.0


class TimedAnswers:
    """The fake API's script: ``answer``, recording each call's time, key and calling pid."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.server_port = 0
        self.calls: list[ModelCall] = []
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        at = time.time()
        pid = pid_of_client(request.peer_port, self.server_port, self.fleet.pids())
        with self._lock:
            self.calls.append(ModelCall(at, call_key(request), pid))
        return answer(request)


@dataclass(frozen=True)
class Pace:
    """How often the killer strikes: a pause drawn uniformly from [low, high] seconds."""

    low: float = 0.4
    high: float = 1.4


class Killer:
    """SIGKILLs a random process of ``fleet`` after each random pause, then restarts it."""

    def __init__(self, fleet: Fleet, rng: random.Random, pace: Pace) -> None:
        self.fleet, self.rng, self.pace = fleet, rng, pace
        self.kills: list[Kill] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-killer", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        """Start killing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop killing; every process is running again when this returns."""
        self._stop.set()
        self._thread.join(timeout=120)
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.rng.uniform(self.pace.low, self.pace.high)):
                victim = self.rng.choice(self.fleet.victims)
                at = time.time()
                pids = self.fleet.kill(victim)
                self.kills.append(Kill(at, victim, pids, self.fleet.calls_model(victim)))
                self.fleet.spawn(victim)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc


def _all_terminal(fleet: Fleet, names: list[str]) -> bool:
    for name in names:
        try:
            run = fleet.store.get("AgentRun", NAMESPACE, name)
        except NotFound:
            return False
        if (run.get("status") or {}).get("phase") not in TERMINAL_PHASES:
            return False
    return True


def _in_flight(fleet: Fleet, accepted: dict[str, float]) -> int:
    """Accepted runs not terminal yet (a run not created yet counts)."""
    done = {
        r["metadata"]["name"]
        for r in fleet.store.list("AgentRun", NAMESPACE)
        if (r.get("status") or {}).get("phase") in TERMINAL_PHASES
    }
    return len(set(accepted) - done)


def _wait_for_room(fleet: Fleet, accepted: dict[str, float], window: int, until: float) -> bool:
    """Wait until fewer than ``window`` runs are in flight; False once ``until`` passed."""
    while _in_flight(fleet, accepted) >= window:
        if time.monotonic() > until:
            return False
        time.sleep(0.05)
    return True


def _warm_up(fleet: Fleet) -> None:
    """One run before the clock starts, so the first runs do not pay the processes' imports."""
    event = request_event(-1)
    deadline = time.monotonic() + DEADLINE
    while not fleet.submit(event):
        assert time.monotonic() < deadline, "the warm-up request was never accepted"
        time.sleep(0.2)
    while not _all_terminal(fleet, [run_name(event)]):
        assert time.monotonic() < deadline, "the warm-up run did not finish"
        time.sleep(0.1)


def run_chaos(
    fleet: Fleet,
    *,
    runs: int,
    seed: int,
    seconds: float = 30.0,
    pace: Pace | None = None,
    kill: bool = True,
    deadline: float = DEADLINE,
    window: int = WINDOW,
) -> Verdict:
    """Submit ``runs`` requests over ``seconds`` (at most ``window`` in flight) while killing
    (unless ``kill`` is False); wait up to ``deadline`` seconds after the last one for every
    run to be terminal."""
    rng = random.Random(seed)
    script = TimedAnswers(fleet)
    effects = fleet.work / "effects.jsonl"
    with FakeMessagesAPI(latency=MODEL_LATENCY, default=script) as api:
        script.server_port = int(api.url.rsplit(":", 1)[1])
        try:
            fleet.start(manifests(api.url, effects))
            _warm_up(fleet)
            killer = Killer(fleet, rng, pace or (Pace(*fleet.pause) if fleet.pause else Pace()))
            if kill:
                killer.start()
            accepted: dict[str, float] = {}
            started = time.monotonic()
            stop_submitting = started + SUBMIT_BUDGET * seconds
            for number in range(runs):
                time.sleep(max(0.0, started + number * seconds / runs - time.monotonic()))
                if not _wait_for_room(fleet, accepted, window, stop_submitting):
                    break  # the shape stalled: the verdict shows fewer runs than asked
                event = request_event(number)
                give_up = time.monotonic() + DEADLINE
                while not fleet.submit(event):  # a client retries its request, same id
                    assert time.monotonic() < give_up, f"request {number} never accepted"
                    time.sleep(0.2)
                accepted[run_name(event)] = time.time()
            if kill:
                killer.stop()
            until = time.monotonic() + deadline
            names = sorted(accepted)
            while time.monotonic() < until and not _all_terminal(fleet, names):
                time.sleep(0.25)
            done = executions(effects)
            verdict = check(fleet.store, accepted, done, script.calls, killer.kills)
            # Every late or unfinished run's story, and the slowest one's however late it is.
            slowest = max(verdict.lateness, key=verdict.lateness.__getitem__, default=None)
            told = [*verdict.late, *(u.split(" ", 1)[0] for u in verdict.unfinished), slowest]
            for name in sorted({n for n in told if n is not None}):
                verdict.stories[name] = timeline(
                    fleet.store,
                    fleet.db,
                    fleet.work / "logs",
                    name,
                    accepted[name],
                    done,
                    script.calls,
                    killer.kills,
                )
            return verdict
        finally:
            fleet.stop()
