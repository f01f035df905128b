"""At start-up the runtime takes up every run that waits, without waiting for sweep.

The embedded runtime starts with no sweep timer at all, so only its start-up can find the
runs: one created while nothing ran (no watch saw it), and one left mid-chain (its
``llm.requested`` was written to the run's state, then the process died before emitting).
"""

from __future__ import annotations

from pathlib import Path

from functions.resources.sqlite import SqliteStore
from functions.runtime.embedded import Embedded
from tests.nats.shape import wait_terminal
from tests.transitions.harness import Harness

SCRIPT = [{"text": "Done."}]


def _world(db: Path) -> Harness:
    h = Harness(store=SqliteStore(str(db)))
    h.model(provider="scripted", script=SCRIPT)
    h.agent()
    return h


def test_a_run_created_while_nothing_ran_is_taken_up_at_start(tmp_path: Path) -> None:
    """An AgentRun applied while baton was down finishes once baton starts."""
    db = tmp_path / "state.db"
    _world(db).run("created-offline")
    with Embedded(str(db), sweep_interval=0) as runtime:
        run = wait_terminal(runtime.store, "created-offline", timeout=20)
    assert (run["status"]["phase"], run["status"]["result"]) == ("Succeeded", "Done.")


def test_a_run_left_mid_chain_resumes_at_start(tmp_path: Path) -> None:
    """A run whose next event was lost with its process resumes when baton starts again."""
    db = tmp_path / "state.db"
    h = _world(db)
    h.run("mid-chain")
    h.prepared("mid-chain")  # written: step 1 waits for the model; its event is dropped here
    assert h.status("mid-chain")["stage"] == "Model"
    with Embedded(str(db), sweep_interval=0) as runtime:
        run = wait_terminal(runtime.store, "mid-chain", timeout=20)
    assert (run["status"]["phase"], run["status"]["result"]) == ("Succeeded", "Done.")
