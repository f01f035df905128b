"""A call whose owner process died is taken over at once, not after its claim's lease.

A worker SIGKILLed in a model or tool call leaves its claim in the run's record. Its owner
id names the process (functions.run.owners), so another process on the same machine sees
the claim is dead and makes the call again (same idempotency key) without waiting out the
lease; under repeated kills those 6 s waits stacked into chaos runs ~30 s late. A claim
whose owner still runs keeps the call to itself until its lease lapses, as before.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cloudevents.core.base import BaseCloudEvent

from events import types
from functions.run import claims
from tests.reliability.world import World

ROOT = Path(__file__).resolve().parents[2]


def _owner_of_an_ended_process() -> str:
    """An owner id made by a process that has exited since (as a killed worker's is)."""
    made = subprocess.run(
        [sys.executable, "-c", "from functions.run.claims import new_owner; print(new_owner())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip()


def _waiting_for_the_model(w: World, owner: str) -> BaseCloudEvent:
    """r0 at step 1 with its model call claimed by ``owner`` (lease fresh); llm.requested."""
    w.runs(1)
    (requested,) = w.prepared("r0")
    assert requested.get_type() == types.LLM_REQUESTED
    run = w.get("r0")
    status = dict(run["status"])
    claims.claim(status, claims.llm_claim(1), owner, w.clock.now())
    w.store.commit({**run, "status": status})
    return requested


def test_a_claim_whose_process_ended_is_free_before_its_lease_lapses() -> None:
    """The record of a dead owner's claim is not live; a running owner's is."""
    now = 1_000.0
    dead, alive = _owner_of_an_ended_process(), claims.new_owner()
    for owner, live in ((dead, False), (alive, True)):
        status: dict[str, object] = {}
        claims.claim(status, "llm/1", owner, now)
        assert claims.is_live(status, "llm/1", now) is live, owner
    assert not claims.is_live({"claims": {"llm/1": {"owner": alive}}}, "llm/1", now)


def test_a_model_call_whose_owner_died_is_made_again_at_once() -> None:
    """llm.requested redelivered within the dead owner's lease: the call is made, once."""
    w = World()
    requested = _waiting_for_the_model(w, _owner_of_an_ended_process())
    assert [e.get_type() for e in w.needs("r0")] == [types.LLM_REQUESTED]  # sweep re-drives
    w.drive([requested])
    assert (w.status("r0")["phase"], w.status("r0")["result"]) == ("Succeeded", "The answer is 0.")
    assert list(w.model_calls.values()) == [1, 1]  # step 1 (taken over) and step 2


def test_a_model_call_whose_owner_runs_is_left_to_it() -> None:
    """The same redelivery while the owner process runs: no second call, nothing re-driven."""
    w = World()
    requested = _waiting_for_the_model(w, claims.new_owner())
    assert w.deliver(requested) == []
    assert w.needs("r0") == []
    assert not w.model_calls
    assert w.status("r0")["stage"] == "Model"


def test_a_forked_process_names_itself_not_its_parent() -> None:
    """gunicorn forks workers after import: the child's owner ids carry the child's pid."""
    import os

    parent = claims.new_owner()  # this process is known (and cached) before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its owner id, then end at once
        os.write(write, claims.new_owner().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 1024).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child.split("@")[1].split(".")[1] == str(pid)
    assert parent.split("@")[1].split(".")[1] == str(os.getpid())
    now = 1_000.0
    status: dict[str, object] = {}
    claims.claim(status, "llm/1", child, now)
    assert not claims.is_live(status, "llm/1", now)  # the child ended: its claim is free
    claims.claim(status, "llm/2", parent, now)
    assert claims.is_live(status, "llm/2", now)
