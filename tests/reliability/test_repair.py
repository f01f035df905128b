"""A lost emit is repaired by the next delivery of any stale event of the run.

Each transition wrote its state and then its events were lost (the process died between
write and emit). Delivering an event the run has already moved past (the same event
again, or the run's oldest, its add event) publishes exactly the events the run still
needs, with the ids they had, and the run then finishes as if nothing was lost. No sweep
threshold is waited for.
"""

from __future__ import annotations

import pytest

from events import types
from events.envelope import CloudEvent
from functions.chain import ROUTES
from tests.reliability.world import World

ROUTED = frozenset(route.filter["type"] for route in ROUTES)
# The run's chain, one transition after another: the event each one takes.
STAGES = ("validate", "prepare_context", "call_llm", "call_tool", "call_llm#2", "finalize")


def _routed(events: list[CloudEvent]) -> list[CloudEvent]:
    return [e for e in events if e.get_type() in ROUTED and e.get_type() != types.TICK]


def _lose_emit_of(w: World, stage: str) -> tuple[CloudEvent, list[CloudEvent]]:
    """Drive r0 up to ``stage``, deliver its event and drop what it emits; (that event, lost)."""
    event: CloudEvent = w.added("r0")
    for _ in range(STAGES.index(stage)):
        (event,) = _routed(w.deliver(event))
    lost = _routed(w.deliver(event))
    assert lost, f"{stage} emitted nothing to lose"
    return event, lost


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("stale", ["same-event", "add-event"])
def test_a_stale_delivery_reemits_what_the_run_still_needs(stage: str, stale: str) -> None:
    """After ``stage`` lost its emit, a stale event brings back the lost events, same ids."""
    w = World()
    w.runs(1)
    handled, lost = _lose_emit_of(w, stage)
    again = handled if stale == "same-event" else w.added("r0")
    repaired = _routed(w.deliver(again))
    want = {(e.get_type(), e.get_id()) for e in lost}
    assert want <= {(e.get_type(), e.get_id()) for e in repaired}, (stage, want, repaired)
    w.drive(repaired)
    assert (w.status("r0")["phase"], w.status("r0")["result"]) == ("Succeeded", "The answer is 0.")
    assert set(w.model_calls.values()) == {1}
    assert list(w.toolbox.executions().values()) == [1]
