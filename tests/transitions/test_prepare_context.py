"""prepare_context: the run's context is frozen once and the first model turn requested."""

from __future__ import annotations

import pytest

from events import types
from events.errors import TransientError
from functions import prepare_context, validate
from functions.prepare_context import estimate_tokens
from functions.run.status import Stage, rfc3339


def _accepted(h, name="r1"):
    return validate.handle(h.added(name), h.deps)[0]


def test_writes_the_context_and_asks_for_step_one(h):
    """System prompt, tools and task go to the journal; llm.requested step 1 follows."""
    run = h.world()
    out = prepare_context.handle(_accepted(h), h.deps)
    assert [e.get_type() for e in out] == [types.LLM_REQUESTED]
    assert out[0].get_id() == f"{run['metadata']['uid']}/1/llm.requested"
    st = h.status()
    assert (st["stage"], st["step"]) == (Stage.MODEL, 1)
    ctx = h.journal()["context"]
    assert ctx["system"] == "You are terse."
    assert [t["name"] for t in ctx["tools"]] == ["calculate", "current_time"]
    assert ctx["messages"] == [{"role": "user", "content": "What is 6*7?"}]
    assert (ctx["model"], ctx["agent"], ctx["limits"]) == ("m1", "a1", {"maxTurns": 5})


def test_the_context_is_written_once(h):
    """A redelivery after the Agent changed keeps the first context and writes nothing."""
    h.world()
    accepted = _accepted(h)
    (llm,) = prepare_context.handle(accepted, h.deps)
    agent = h.store.get("Agent", "default", "a1")
    agent["spec"]["systemPrompt"] = "Something else."
    h.store.update(agent)
    commits = h.store.commits
    again = prepare_context.handle(accepted, h.deps)
    assert [e.get_id() for e in again] == [llm.get_id()], "the run's need again, same id"
    assert h.store.commits == commits
    assert h.journal()["context"]["system"] == "You are terse."
    assert h.status()["step"] == 1


def test_redelivery_after_a_crash_before_the_status_write_keeps_the_first_context(h):
    """Context journaled, status write lost: the retry reuses that context and moves on."""
    h.world()
    accepted = _accepted(h)
    h.store.crash_commit(after_journal=True)
    with pytest.raises(ConnectionError):
        prepare_context.handle(accepted, h.deps)
    assert h.status()["stage"] == Stage.ACCEPTED
    agent = h.store.get("Agent", "default", "a1")
    agent["spec"]["systemPrompt"] = "Changed meanwhile."
    h.store.update(agent)
    out = prepare_context.handle(accepted, h.deps)
    assert [e.get_type() for e in out] == [types.LLM_REQUESTED]
    assert h.journal()["context"]["system"] == "You are terse."


def test_overrides_replace_the_system_prompt_and_model(h):
    """The run's overrides win over the Agent for the system prompt and the model."""
    h.model()
    h.model("m2")
    h.agent()
    h.run(
        overrides={
            "systemPrompt": "Be verbose.",
            "modelRef": {"name": "m2"},
            "toolPolicy": {"deny": ["calculate"]},
        }
    )
    prepare_context.handle(_accepted(h), h.deps)
    ctx = h.journal()["context"]
    assert (ctx["system"], ctx["model"]) == ("Be verbose.", "m2")
    assert ctx["overridePolicy"] == {"deny": ["calculate"]}


def _finished(h, name, task, result, completed_at, session="s1"):
    run = h.run(name, task=task, sessionKey=session)
    run["status"] = {"phase": "Succeeded", "result": result, "completedAt": rfc3339(completed_at)}
    h.store.update_status(run)


def test_session_history_comes_from_earlier_succeeded_runs(h):
    """Earlier answers of the same session precede the task, oldest first."""
    h.model()
    h.agent()
    _finished(h, "old2", "second question", "second answer", h.clock.now() - 10)
    _finished(h, "old1", "first question", "first answer", h.clock.now() - 20)
    _finished(h, "other", "not mine", "other answer", h.clock.now() - 5, session="s2")
    failed = h.run("failed", task="failed task", sessionKey="s1")
    failed["status"] = {"phase": "Failed", "completedAt": rfc3339(h.clock.now())}
    h.store.update_status(failed)
    h.run("r2", task="third question", sessionKey="s1")
    prepare_context.handle(_accepted(h, "r2"), h.deps)
    assert [m["content"] for m in h.journal("r2")["context"]["messages"]] == [
        "first question",
        "first answer",
        "second question",
        "second answer",
        "third question",
    ]


def test_session_history_is_trimmed_to_the_token_budget(h):
    """Only the newest exchanges that fit contextTokenBudget are kept."""
    h.model()
    task = "q" * 40
    # budget: system + task + exactly one earlier exchange
    budget = (
        estimate_tokens("You are terse.")
        + estimate_tokens(task)
        + estimate_tokens("old q")
        + estimate_tokens("a" * 400)
        + 2
    )
    h.agent(contextTokenBudget=budget)
    _finished(h, "older", "very old q", "b" * 400, h.clock.now() - 20)
    _finished(h, "newer", "old q", "a" * 400, h.clock.now() - 10)
    h.run("r2", task=task, sessionKey="s1")
    prepare_context.handle(_accepted(h, "r2"), h.deps)
    messages = h.journal("r2")["context"]["messages"]
    assert [m["content"] for m in messages] == ["old q", "a" * 400, task]


def test_a_run_without_session_key_has_no_history(h):
    """Runs without sessionKey never see other runs' answers."""
    h.model()
    h.agent()
    _finished(h, "old", "q", "a", h.clock.now() - 10)
    h.run("r2")
    prepare_context.handle(_accepted(h, "r2"), h.deps)
    assert len(h.journal("r2")["context"]["messages"]) == 1


def test_a_stale_step_is_ignored(h):
    """run.accepted for a step other than 0 writes no context; at most the run's need follows."""
    h.world()
    _accepted(h)
    stale = h.event(types.RUN_ACCEPTED, step=3)
    commits = h.store.commits
    out = prepare_context.handle(stale, h.deps)
    assert [e.get_id() for e in out] == [e.get_id() for e in h.needs()]
    assert h.store.commits == commits
    assert "context" not in h.journal()
    assert h.status()["stage"] == Stage.ACCEPTED


def test_a_run_not_yet_accepted_is_ignored(h):
    """run.accepted for a run still Pending (say, a forged event) does nothing."""
    h.world()
    assert prepare_context.handle(h.event(types.RUN_ACCEPTED), h.deps) == []
    assert h.journal() == {}
    assert h.store.commits == 0


def test_a_server_run_without_a_task_waits_for_input_after_its_context(h):
    """A Serving run's context is frozen, then it waits: no model turn is asked for."""
    h.model()
    h.agent()
    h.run(task="", mode="server")
    assert prepare_context.handle(_accepted(h), h.deps) == []
    st = h.status()
    assert (st["phase"], st["stage"], st["step"]) == ("Serving", Stage.INPUT, 0)
    assert h.journal()["context"]["messages"] == []
    assert h.needs() == []


def test_a_run_whose_agent_vanished_after_validation_does_not_wait_forever(h):
    """Agent deleted between validate and prepare_context: an error the bus retries, then
    dead-letters (failing the run), instead of a silent drop that leaves it Running."""
    h.world()
    accepted = _accepted(h)
    h.store.delete("Agent", "default", "a1")
    with pytest.raises(TransientError) as caught:
        prepare_context.handle(accepted, h.deps)
    assert caught.value.reason == "ReferenceNotFound"
    assert "a1" in caught.value.message
