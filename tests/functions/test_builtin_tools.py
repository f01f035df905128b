"""Built-in tools: results for good input, is_error results the model can act on for bad."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from functions.ports import API_VERSION, ToolCall, ToolContext
from functions.tools import AgentToolbox
from functions.tools.builtin import BUILTINS, run_builtin
from tests.fakes.store import FakeStore


@pytest.fixture
def store() -> FakeStore:
    """A store with one Agent and two runs in namespace default, one run elsewhere."""
    s = FakeStore()
    s.create(
        {
            "apiVersion": API_VERSION,
            "kind": "Agent",
            "metadata": {"name": "a1"},
            "spec": {"modelRef": {"name": "m1"}},
        }
    )
    for name, ns, phase, tokens in (
        ("r1", "default", "Succeeded", 40),
        ("r2", "default", "Failed", 5),
        ("r3", "other", "Running", 0),
    ):
        run = s.create(
            {
                "apiVersion": API_VERSION,
                "kind": "AgentRun",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"agentRef": {"name": "a1"}, "task": "t"},
            }
        )
        run["status"] = {"phase": phase, "tokenUsage": {"total": tokens}}
        if phase == "Failed":
            run["status"]["error"] = {"reason": "X", "message": "it broke"}
        s.update_status(run)
    return s


def call(store, tool, **input_):
    """Run builtin ``tool`` as run r1 would."""
    ctx = ToolContext(
        run=store.get("AgentRun", "default", "r1"), agent={}, idempotency_key="k", store=store
    )
    return run_builtin(BUILTINS[tool], ToolCall("c1", tool, input_), ctx)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("6*7", "42"),
        ("2**10", "1024"),
        ("7/2", "3.5"),
        ("7//2", "3"),
        ("-3+ +4", "1"),
        ("(1+2)*3 % 4", "1"),
    ],
)
def test_calculate_evaluates_arithmetic(store, expression, value):
    """+ - * / // % ** and parentheses."""
    result = call(store, "calculate", expression=expression)
    assert (result.content, result.is_error) == (value, False)


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("__import__('os').system('true')", "unsupported expression element"),
        ("1/0", "cannot evaluate"),
        ("2**1000", "exponent too large"),
        ("", "1-500 characters"),
        ("1+", "cannot evaluate"),
        ("x*2", "unsupported expression element Name"),
        ("(10.0**100)**100", "calculate:"),
        ("((10**100)**100)**100", "calculate:"),
        ("(((9**99)**99)**99)**99", "calculate:"),
    ],
)
def test_calculate_refuses_what_it_cannot_do_as_an_error_result(store, expression, says):
    """No code runs, no exception escapes: the model gets an is_error result saying why."""
    result = call(store, "calculate", expression=expression)
    assert result.is_error and says in result.content


def test_current_time_in_a_timezone(store):
    """An ISO 8601 time with the zone's offset; an unknown zone is an error result."""
    result = call(store, "current_time", timezone="Asia/Kolkata")
    assert datetime.fromisoformat(result.content).utcoffset().total_seconds() == 5.5 * 3600
    assert datetime.fromisoformat(call(store, "current_time").content).utcoffset().seconds == 0
    bad = call(store, "current_time", timezone="Mars/Olympus")
    assert bad.is_error and "Mars/Olympus" in bad.content


def test_list_resources_in_the_runs_namespace(store):
    """Runs of the caller's namespace with phase and tokens, filterable by phase."""
    listed = json.loads(call(store, "list_resources").content)
    assert listed["count"] == 2
    assert listed["items"][0] == {
        "kind": "AgentRun",
        "name": "r1",
        "agent": "a1",
        "phase": "Succeeded",
        "tokens": 40,
        "error": None,
    }
    failed = json.loads(call(store, "list_resources", phase="Failed").content)
    assert [i["name"] for i in failed["items"]] == ["r2"]
    assert failed["items"][0]["error"] == "it broke"
    assert json.loads(call(store, "list_resources", kind="Agent").content)["items"] == [
        {"kind": "Agent", "name": "a1"}
    ]


def test_list_resources_refuses_bad_input_as_an_error_result(store):
    """Unknown kinds and non-numeric limits go back to the model."""
    assert call(store, "list_resources", kind="Secret").is_error
    result = call(store, "list_resources", limit="lots")
    assert result.is_error and "limit" in result.content


def test_get_resource(store):
    """One resource's spec and status summary; a missing one is an error result."""
    got = json.loads(call(store, "get_resource", name="r2").content)
    assert got["spec"]["agentRef"] == {"name": "a1"}
    assert got["status"]["phase"] == "Failed"
    missing = call(store, "get_resource", kind="Agent", name="nope")
    assert missing.is_error and "nope" in missing.content


def test_the_toolbox_offers_the_agents_tools_in_order(store):
    """specs() lists builtins and sub-agents as the Agent declares them."""
    agent = {
        "metadata": {"name": "a1"},
        "spec": {
            "tools": [
                {"builtin": "get_resource"},
                {"agent": "helper", "name": "ask_helper"},
                {"builtin": "calculate"},
            ]
        },
    }
    specs = AgentToolbox(store).specs(agent, "default")
    assert [s.name for s in specs] == ["get_resource", "ask_helper", "calculate"]
    assert specs[1].input_schema["required"] == ["task"]


def test_an_unknown_builtin_in_an_agent_is_a_permanent_error(store):
    """A typo in the Agent's tools fails loudly, naming the known builtins."""
    from events.errors import PermanentError

    agent = {"metadata": {"name": "a1"}, "spec": {"tools": [{"builtin": "calcualte"}]}}
    with pytest.raises(PermanentError, match=r"calcualte.*calculate"):
        AgentToolbox(store).specs(agent, "default")


@pytest.mark.parametrize("tool", ["list_resources", "get_resource"])
def test_another_namespace_is_not_readable(store, tool):
    """An agent cannot read another tenant's runs by naming their namespace."""
    result = call(store, tool, kind="AgentRun", name="r3", namespace="other")
    assert result.is_error
    assert "only namespace 'default'" in result.content
    assert "Running" not in result.content  # nothing of r3 leaks
