"""The scripted model: offline, deterministic replies played back turn by turn."""

from __future__ import annotations

import pytest

from events.errors import PermanentError, TransientError
from functions.models.scripted import ScriptedModel
from functions.ports import ModelRequest

SCRIPT = [
    {
        "text": "Let me compute.",
        "toolCalls": [{"name": "calculate", "input": {"expression": "6*7"}}],
        "usage": {"input": 300, "output": 40},
    },
    {"text": "You asked: {{task}}. The tool said {{last_tool_result}}."},
]


def model(script=SCRIPT, **spec):
    return ScriptedModel({"metadata": {"name": "m1"}, "spec": {"script": script, **spec}})


def request(*messages):
    return ModelRequest(system="sys", messages=list(messages))


TASK = {"role": "user", "content": "What is 6*7?"}


def test_the_first_turn_plays_the_first_entry():
    """Turn 0: its text, a tool_use block with a generated id, stop tool_use, the given usage."""
    reply = model().complete(request(TASK))
    assert reply.text == "Let me compute."
    (call,) = reply.tool_calls
    assert (call.id, call.name, dict(call.input)) == (
        "toolu_s01_0",
        "calculate",
        {"expression": "6*7"},
    )
    assert reply.stop_reason == "tool_use"
    assert (reply.usage.input, reply.usage.output, reply.model) == (300, 40, "scripted")


def test_later_turns_fill_in_the_task_and_the_last_tool_result():
    """Turn 1 follows one assistant message; placeholders are filled from the transcript."""
    first = model().complete(request(TASK))
    results = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_s01_0", "content": "42"}],
    }
    reply = model().complete(
        request(TASK, {"role": "assistant", "content": first.content}, results)
    )
    assert reply.text == "You asked: What is 6*7?. The tool said 42."
    assert (reply.stop_reason, reply.tool_calls) == ("end_turn", [])
    assert reply.usage.input > 0 and reply.usage.output > 0, "usage is estimated when not scripted"


def test_the_last_entry_repeats():
    """Past the end of the script the last reply is played again."""
    m = model([{"text": "only"}])
    later = request(
        TASK,
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": "y"},
        {"role": "assistant", "content": "z"},
    )
    assert m.complete(later).text == "only"


def test_a_scripted_stop_reason_wins():
    """stopReason in the entry replaces the default."""
    assert model([{"text": "...", "stopReason": "max_tokens"}]).complete(
        request(TASK)
    ).stop_reason == ("max_tokens")


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, TransientError), (529, TransientError), (503, TransientError), (400, PermanentError)],
)
def test_scripted_errors_map_to_the_taxonomy(status, error):
    """Overload-like statuses are transient, others permanent, as for the real provider."""
    m = model([{"error": {"status": status, "message": "scripted"}}])
    with pytest.raises(error, match=f"{status}: scripted"):
        m.complete(request(TASK))


def test_an_empty_script_is_refused():
    """A scripted Model without replies cannot be built."""
    with pytest.raises(PermanentError, match="script is empty"):
        model([])


def test_session_history_does_not_shift_the_script():
    """A later run in a session starts at turn 0 with its own task, not the session's first."""
    history = [{"role": "user", "content": "What is 1+1?"}, {"role": "assistant", "content": "2"}]
    m = model([{"text": "Task: {{task}}"}, {"text": "second turn"}])
    reply = m.complete(request(*history, TASK))
    assert reply.text == "Task: What is 6*7?"
