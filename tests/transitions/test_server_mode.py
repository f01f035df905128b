"""Server mode: a Serving run takes input after input, in order, each answered once."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from events import types
from events.envelope import CloudEvent, data_of, make_event
from functions import call_llm, deliver, finalize, prepare_context, route, sweep
from functions.ports import Deps
from functions.run import session, steering
from functions.run.status import Stage
from functions.run.step import follow_up
from tests.fakes.model import answer, tool_use
from tests.transitions.harness import Harness


def serving(h: Harness, task: str = "", **spec: Any) -> dict[str, Any]:
    """Model m1, Agent a1 and a server-mode run r1, validated and prepared."""
    h.model()
    h.agent(**spec.pop("agent", {}))
    h.run(task=task, mode="server", **spec)
    return {"events": h.prepared(), "run": h.get()}


def send(h: Harness, text: str, origin: str, name: str = "r1") -> list[CloudEvent]:
    """What route does for a chat message: journal and count the input, wake the run."""
    result = session.receive(h.deps, h.get(name), text, origin)
    assert result is not None
    return follow_up(h.deps, result)


def types_of(events: list[CloudEvent]) -> list[str]:
    """The events' types, in order."""
    return [e.get_type() for e in events]


def replies(h: Harness) -> list[dict[str, Any]]:
    """The data of each run.replied the pump saw, in order, once per id (as a bus keeps it)."""
    kept = {e.get_id(): e for e in reversed(h.seen) if e.get_type() == types.RUN_REPLIED}
    return [data_of(e) for e in reversed(kept.values())]


def test_a_server_run_without_a_task_serves_without_calling_the_model(h: Harness) -> None:
    """Accepted as Serving; prepare_context freezes the context and waits for input."""
    world = serving(h)
    assert world["events"] == []
    st = h.status()
    assert (st["phase"], st["stage"], st["step"]) == ("Serving", Stage.INPUT, 0)
    assert "context" in h.journal()
    assert h.models.calls == 0


def test_a_server_run_with_a_task_answers_it_then_serves(h: Harness) -> None:
    """The task is the first exchange; its answer is a run.replied, not the end of the run."""
    h.models.script("m1", answer("42"))
    world = serving(h, task="What is 6*7?")
    h.pump(world["events"])
    st = h.status()
    assert (st["phase"], st["stage"], st["step"], st["result"]) == (
        "Serving",
        Stage.INPUT,
        1,
        "42",
    )
    uid = world["run"]["metadata"]["uid"]
    (replied,) = [e for e in h.seen if e.get_type() == types.RUN_REPLIED]
    assert replied.get_id() == f"{uid}/1/run.replied"
    assert data_of(replied)["result"] == "42"
    assert types.RUN_COMPLETED not in types_of(h.seen)


def test_two_inputs_are_answered_in_order_with_the_whole_exchange_in_view(h: Harness) -> None:
    """Each input opens the next step; the model sees earlier inputs and answers interleaved."""
    model = h.models.script("m1", answer("Hello Ada."), answer("You are Ada."))
    serving(h)
    h.pump(send(h, "I am Ada.", "msg-1"))
    h.pump(send(h, "Who am I?", "msg-2"))
    assert [r["result"] for r in replies(h)] == ["Hello Ada.", "You are Ada."]
    assert [r["step"] for r in replies(h)] == [1, 2]
    assert model.requests[1].messages == [
        {"role": "user", "content": "I am Ada."},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello Ada."}]},
        {"role": "user", "content": "Who am I?"},
    ]
    st = h.status()
    assert (st["phase"], st["step"], st["inputs"], st["inputsTaken"]) == ("Serving", 2, 2, 2)
    assert st["tokenUsage"]["total"] == 30  # 15 a reply, each counted once
    journal = h.journal()
    assert journal["user/1"] == {"role": "user", "content": "I am Ada.", "input": 1}
    assert journal["user/2"]["input"] == 2


def test_the_same_message_sent_twice_is_one_input(h: Harness) -> None:
    """A redelivered chat message (same origin) is journaled and counted once."""
    h.models.script("m1", answer("once"))
    serving(h)
    first = send(h, "hi", "slack#E1")
    again = send(h, "hi", "slack#E1")
    assert [e.get_id() for e in again] == [e.get_id() for e in first]
    h.pump(first + again)
    assert h.status()["inputs"] == 1
    assert [k for k in h.journal() if k.startswith("input/")] == ["input/1"]
    assert h.models.calls == 1


def test_duplicated_and_reordered_delivery_answers_each_input_once(h: Harness) -> None:
    """Every event possibly twice, in random order: one model call per input, same answers."""
    h.models.script("m1", answer("a1"), answer("a2"), answer("a3"))
    serving(h)
    rng = random.Random(7)
    for n in (1, 2, 3):
        h.pump(send(h, f"q{n}", f"m{n}"), rng=rng, duplicate=0.5)
    assert h.models.calls == 3
    st = h.status()
    assert (st["phase"], st["inputsTaken"], st["result"]) == ("Serving", 3, "a3")
    assert st["tokenUsage"]["total"] == 45


def test_input_that_arrives_while_running_waits_for_the_exchange_to_end(h: Harness) -> None:
    """Inputs during an exchange queue up; each is taken only after the previous answer."""
    model = h.models.script(
        "m1",
        tool_use(("t1", "calculate", {"expression": "6*7"})),
        answer("It is 42."),
        answer("second"),
        answer("third"),
    )
    serving(h)
    start = send(h, "What is 6*7?", "m1")
    llm = prepare_context.handle(start[0], h.deps)
    assert h.status()["phase"] == "Running"
    assert send(h, "and then?", "m2") == []  # queued: nothing to wake while Running
    assert send(h, "and last?", "m3") == []
    h.pump(llm)
    assert [r["result"] for r in replies(h)] == ["It is 42.", "second", "third"]
    # The second input is only seen after the first exchange ended with its answer.
    assert model.requests[2].messages[-2:] == [
        {"role": "assistant", "content": [{"type": "text", "text": "It is 42."}]},
        {"role": "user", "content": "and then?"},
    ]
    assert h.status()["step"] == 4  # a tool turn and an answer, then one answer each


def test_a_late_wake_up_for_a_taken_input_changes_nothing(h: Harness) -> None:
    """input.received for an input already answered is dropped (no model call, no write)."""
    h.models.script("m1", answer("done"))
    serving(h)
    wake = send(h, "hi", "m1")
    h.pump(wake)
    before = h.get()
    out = prepare_context.handle(wake[0], h.deps)
    assert types.RUN_INPUT_RECEIVED not in types_of(out)
    assert {e.get_id() for e in out} <= {e.get_id() for e in h.needs()}
    assert h.get() == before
    assert h.models.calls == 1


def test_max_turns_counts_per_exchange(h: Harness) -> None:
    """A session of maxTurns 2 answers three inputs with a tool turn each, never failing."""
    replies_ = []
    for n in range(3):
        replies_ += [tool_use((f"t{n}", "calculate", {"expression": "1+1"})), answer(f"a{n}")]
    h.models.script("m1", *replies_)
    serving(h, agent={"limits": {"maxTurns": 2}})
    for n in range(3):
        h.pump(send(h, f"q{n}", f"m{n}"))
    st = h.status()
    assert (st["phase"], st["step"], st["result"]) == ("Serving", 6, "a2")


def test_a_redelivered_llm_request_after_the_answer_replays_the_reply(h: Harness) -> None:
    """A crash after the Serving write: redelivery re-emits run.replied (same id), no model call."""
    h.models.script("m1", answer("hello"))
    serving(h)
    llm = prepare_context.handle(send(h, "hi", "m1")[0], h.deps)
    first = call_llm.handle(llm[0], h.deps)
    again = call_llm.handle(llm[0], h.deps)
    assert types_of(first) == [types.RUN_REPLIED]
    assert [e.get_id() for e in again] == [e.get_id() for e in first]
    assert h.models.calls == 1


def test_sweep_wakes_a_serving_run_with_queued_input(h: Harness) -> None:
    """`baton send` only writes the store: the next tick emits input.received for it."""
    h.models.script("m1", answer("from the store"))
    serving(h)
    session.receive(h.deps, h.get(), "hi", "cli#1")
    out = h.tick()  # at once: no quiet period for queued input
    assert types_of(out) == [types.RUN_INPUT_RECEIVED]
    assert data_of(out[0])["index"] == 1 and "input" not in data_of(out[0])
    assert out[0].get_id() == f"{h.get()['metadata']['uid']}/0/run.input.received/input-1"
    h.pump(out)
    assert h.status()["result"] == "from the store"


def test_an_idle_session_ends_succeeded_after_its_idle_ttl(h: Harness) -> None:
    """No input for idleTTL: Succeeded with reason IdleTimeout; before that, nothing."""
    h.models.script("m1", answer("hi"))
    serving(h, idleTTL="10m")
    h.pump(send(h, "hello", "m1"))
    (replied,) = [e for e in h.seen if e.get_type() == types.RUN_REPLIED]
    h.clock.advance(590)
    out = h.tick()
    assert [e.get_id() for e in out] == [replied.get_id()], "only the reply's need, again"
    assert h.status()["phase"] == "Serving"
    h.clock.advance(20)
    out = h.tick()
    assert types_of(out) == [types.RUN_COMPLETED]
    assert h.status()["outcome"]["reason"] == "IdleTimeout"
    (finished,) = finalize.handle(out[0], h.deps)
    st = h.status()
    assert (st["phase"], st["result"]) == ("Succeeded", "hi")
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "IdleTimeout"
    assert data_of(finished)["mode"] == "server"


def test_input_counted_first_keeps_an_idle_session_serving(h: Harness) -> None:
    """Input counted before sweep looks: the session is not idle, and the input is answered."""
    h.models.script("m1", answer("still here"))
    serving(h, idleTTL="1m")
    h.clock.advance(120)
    session.receive(h.deps, h.get(), "wait!", "m1")
    out = h.tick()
    assert types_of(out) == [types.RUN_INPUT_RECEIVED]
    h.pump(out)
    assert (h.status()["phase"], h.status()["result"]) == ("Serving", "still here")


def test_a_session_whose_end_is_recorded_takes_no_input(h: Harness) -> None:
    """Once sweep recorded the idle end, receive answers None (route starts a new run)."""
    serving(h, idleTTL="1m")
    h.clock.advance(120)
    assert types_of(h.tick()) == [types.RUN_COMPLETED]
    assert h.status()["stage"] == Stage.FINALIZING
    assert session.receive(h.deps, h.get(), "wait!", "m1") is None


def test_a_message_racing_the_idle_end_is_answered(h: Harness) -> None:
    """A chat message between sweep's idle decision and finalize is answered, not lost."""
    h.models.script("m1", answer("first"), answer("second"))
    h.model()
    h.agent()
    h.pump([_message("one", "E1", idleTTL="1m")])
    h.clock.advance(120)
    idle = h.tick()
    h.pump([_message("two", "E2", idleTTL="1m")])
    h.pump(idle)
    assert h.models.calls == 2
    assert [r["result"] for r in replies(h)] == ["first", "second"]


def test_a_finished_session_takes_no_input(h: Harness) -> None:
    """receive answers None for a run that ended, so route starts a new run instead."""
    serving(h, idleTTL="1m")
    h.clock.advance(120)
    (idle,) = sweep.handle(make_event(types.TICK, "test", {}), h.deps)
    finalize.handle(idle, h.deps)
    assert session.receive(h.deps, h.get(), "hello?", "m1") is None


def test_a_task_run_takes_no_input(h: Harness) -> None:
    """Only a server-mode run is a session."""
    h.world()
    assert session.receive(h.deps, h.get(), "hi", "m1") is None


def _message(text: str, event_id: str, thread: str = "T1", **more: Any) -> CloudEvent:
    data = {
        "agent": "a1",
        "task": text,
        "mode": "server",
        "routing": {"channel": "slack", "thread": thread},
        **more,
    }
    return make_event(types.CHANNEL_MESSAGE, "/chat/slack", data, id_=event_id)


def test_route_gives_a_thread_message_to_its_serving_run(h: Harness) -> None:
    """The first message starts a server run; the next one in the thread is its input."""
    h.models.script("m1", answer("first"), answer("second"))
    h.model()
    h.agent()
    h.pump([_message("one", "E1")])
    (run,) = h.store.list("AgentRun")
    assert (run["spec"]["mode"], run["status"]["phase"]) == ("server", "Serving")
    h.pump([_message("two", "E2"), _message("two", "E2"), _message("one", "E1")])
    (run,) = h.store.list("AgentRun")
    assert [r["result"] for r in replies(h)] == ["first", "second"]
    assert run["status"]["inputs"] == 1
    assert h.models.calls == 2


def test_route_starts_a_new_run_when_the_session_ended(h: Harness) -> None:
    """A message to a thread whose session ended creates a new run, with the old one's history."""
    model = h.models.script("m1", answer("first"), answer("second"), answer("again"))
    h.model()
    h.agent()
    h.pump([_message("one", "E1")])
    h.pump([_message("two", "E2")])
    h.clock.advance(3600)
    h.pump(sweep.handle(make_event(types.TICK, "test", {}), h.deps))
    h.pump([_message("three", "E3")])
    phases = sorted(r["status"]["phase"] for r in h.store.list("AgentRun"))
    assert phases == ["Serving", "Succeeded"]
    assert model.requests[-1].messages == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "first"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "second"},
        {"role": "user", "content": "three"},
    ]


class Posts:
    """Channels that record what was posted."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []

    def post(self, routing: Mapping[str, Any], text: str, idempotency_key: str) -> None:
        """Record the post."""
        self.posts.append((text, idempotency_key))


def test_deliver_posts_each_reply_once(h: Harness) -> None:
    """run.replied goes into the thread once, however often it is delivered."""
    h.models.script("m1", answer("hello there"))
    serving(h, routing={"channel": "slack", "thread": "T1"})
    channels = Posts()
    deps = Deps(h.store, h.models, h.deps.tools, h.clock, channels)
    llm = prepare_context.handle(send(h, "hi", "m1")[0], h.deps)
    (replied,) = call_llm.handle(llm[0], h.deps)
    assert deliver.handle(replied, deps) == []
    assert deliver.handle(replied, deps) == []
    uid = h.get()["metadata"]["uid"]
    assert channels.posts == [("hello there", f"{uid}/1/deliver")]


def test_deliver_stays_quiet_when_an_idle_session_ends(h: Harness) -> None:
    """The session's answers are out already: its run.finished posts nothing."""
    serving(h, routing={"channel": "slack", "thread": "T1"}, idleTTL="1m")
    channels = Posts()
    deps = Deps(h.store, h.models, h.deps.tools, h.clock, channels)
    h.clock.advance(120)
    (idle,) = sweep.handle(make_event(types.TICK, "test", {}), h.deps)
    (finished,) = finalize.handle(idle, h.deps)
    assert deliver.handle(finished, deps) == []
    assert channels.posts == []


def test_route_redelivery_of_the_creating_message_is_not_input(h: Harness) -> None:
    """The message that created the session run, delivered again, is not its own input."""
    h.models.script("m1", answer("one answer"))
    h.model()
    h.agent()
    assert route.handle(_message("one", "E1"), h.deps) == []
    h.pump([h.added(h.store.list("AgentRun")[0]["metadata"]["name"])])
    assert route.handle(_message("one", "E1"), h.deps) == []
    (run,) = h.store.list("AgentRun")
    assert run["status"].get("inputs", 0) == 0


def test_a_deleted_session_is_over_and_the_thread_starts_anew(h: Harness) -> None:
    """Deleting a Serving run ends it: the next message in its thread starts a new run."""
    h.models.script("m1", answer("first"), answer("fresh"))
    h.model()
    h.agent()
    h.pump([_message("one", "E1")])
    (old,) = h.store.list("AgentRun")
    h.store.delete("AgentRun", "default", old["metadata"]["name"])
    h.pump([_message("two", "E2")])
    (new,) = h.store.list("AgentRun")
    assert new["metadata"]["uid"] != old["metadata"]["uid"]
    assert (new["status"]["phase"], new["status"]["result"]) == ("Serving", "fresh")


def test_cancel_ends_a_serving_run_cancelled(h: Harness) -> None:
    """`baton cancel` (the annotation) works on a session as on any run."""
    serving(h)
    run = h.get()
    run["metadata"]["annotations"] = {steering.CANCEL: "carol"}
    h.store.update(run)
    h.pump(sweep.handle(make_event(types.TICK, "test", {}), h.deps))
    assert h.status()["phase"] == "Cancelled"
    assert h.status()["error"]["message"] == "cancelled by carol"
