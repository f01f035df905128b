"""MCP tools over stdio: the real mcp client against the test server run as a subprocess.

Starting a server costs a second or more (the mcp import), so the tests that need no fresh
process share one server, each with its own idempotency keys.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from events.errors import TransientError
from functions.ports import ToolCall
from functions.resources.sqlite import SqliteStore
from functions.tools.mcp import MCPTools
from tests.fakes.mcp_servers import calls
from tests.tools.conftest import mcp_server, stdio_spec

SHARED_ALLOW = ["add", "*_note", "fail", "reject", "structured"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MCPTools, Path]]:
    """MCPTools and the state dir of one stdio server ``default/shared`` used by many tests."""
    root = tmp_path_factory.mktemp("shared-stdio")
    store = SqliteStore(str(root / "state.db"))
    mcp_server(store, "shared", stdio_spec(root / "server", tools={"allow": SHARED_ALLOW}))
    tools = MCPTools(store, environ={})
    yield tools, root / "server"
    tools.close()


def _call(shared: tuple[MCPTools, Path], tool: str, idempotency_key: str, **arguments: Any) -> Any:
    call = ToolCall(idempotency_key, tool, arguments)
    return shared[0].call("default", "shared", call, idempotency_key)


def _calls_with(state_dir: Path, key: str) -> list[dict[str, Any]]:
    return [c for c in calls(state_dir) if c["idempotencyKey"] == key]


def test_lists_only_the_tools_allow_offers(shared):
    """spec.tools.allow globs pick the tools the model sees, with their input schemas."""
    specs = shared[0].specs("default", "shared")
    assert [s.name for s in specs] == [
        "add",
        "put_note",
        "get_note",
        "fail",
        "reject",
        "structured",
    ]
    add = specs[0]
    assert add.description == "Add two integers."
    assert add.input_schema["required"] == ["a", "b"]
    assert add.input_schema["properties"]["a"]["type"] == "integer"


def test_a_call_returns_the_tool_text_and_carries_the_idempotency_key(shared):
    """The result is the tool's text and the server sees the key in _meta, once."""
    result = _call(shared, "add", "uid/1/call_tool/t1", a=2, b=40)
    assert (result.content, result.is_error) == ("42", False)
    (seen,) = _calls_with(shared[1], "uid/1/call_tool/t1")
    assert (seen["tool"], seen["arguments"]) == ("add", {"a": 2, "b": 40})


def test_effects_persist_in_one_server_process_across_calls(shared):
    """A note stored by one call is read by the next: the session and process are reused."""
    _call(shared, "put_note", "persist-1", key="k", text="v1")
    got = _call(shared, "get_note", "persist-2", key="k")
    assert got.content == "v1"
    pids = {c["pid"] for key in ("persist-1", "persist-2") for c in _calls_with(shared[1], key)}
    assert len(pids) == 1


def test_a_tool_error_comes_back_as_an_error_result(shared):
    """isError from the server -> is_error=True with the server's message, no exception."""
    result = _call(shared, "fail", "fail-1", message="disk full")
    assert result.is_error
    assert "disk full" in result.content


def test_a_refused_call_comes_back_as_an_error_result(shared):
    """A JSON-RPC error answering tools/call (e.g. invalid params) goes to the model, no retry."""
    result = _call(shared, "reject", "reject-1", reason="b must be positive")
    assert result.is_error
    assert result.content == "MCPServer default/shared refused reject: b must be positive"


def test_structured_content_without_blocks_is_sent_as_json(shared):
    """A result with only structuredContent reaches the model as JSON text."""
    result = _call(shared, "structured", "structured-1")
    assert json.loads(result.content) == {"answer": 42, "unit": "widgets"}


def test_a_tool_outside_allow_is_refused_without_reaching_the_server(shared):
    """A call to a tool allow does not offer is an error result; the server never sees it."""
    result = _call(shared, "slow", "refused-1", seconds=1)
    assert result.is_error
    assert "not offered by MCPServer default/shared" in result.content
    assert _calls_with(shared[1], "refused-1") == []


def test_a_slow_tool_times_out_as_transient(store, state_dir, tools):
    """A call longer than spec.timeoutSeconds -> TransientError naming server and tool."""
    mcp_server(store, "slowpoke", stdio_spec(state_dir, timeoutSeconds=1))
    with pytest.raises(TransientError) as caught:
        tools.call("default", "slowpoke", ToolCall("t", "slow", {"seconds": 30}), "k")
    assert caught.value.reason == "MCPTimeout"
    assert "MCPServer default/slowpoke" in str(caught.value)
    assert "slow" in str(caught.value)
    # the session survives a timed-out call
    ok = tools.call("default", "slowpoke", ToolCall("t2", "add", {"a": 1, "b": 2}), "k2")
    assert ok.content == "3"


def test_a_server_that_died_is_restarted_on_the_next_call(store, state_dir, tools):
    """The process exits mid-call -> TransientError; the next call runs on a new process."""
    mcp_server(store, "fragile", stdio_spec(state_dir))
    tools.call("default", "fragile", ToolCall("a", "add", {"a": 1, "b": 1}), "k1")
    with pytest.raises(TransientError) as caught:
        tools.call("default", "fragile", ToolCall("b", "crash", {}), "k2")
    assert caught.value.reason == "MCPServerUnavailable"
    result = tools.call("default", "fragile", ToolCall("c", "add", {"a": 2, "b": 2}), "k3")
    assert result.content == "4"
    first, _, last = (c["pid"] for c in calls(state_dir))
    assert first != last


def test_close_stops_the_server_process(store, state_dir, make_tools):
    """close() ends the session and the stdio server exits."""
    mcp_server(store, "short", stdio_spec(state_dir))
    tools = make_tools()
    tools.call("default", "short", ToolCall("a", "add", {"a": 1, "b": 1}), "k1")
    pid = calls(state_dir)[0]["pid"]
    assert _alive(pid)
    tools.close()
    assert not _alive(pid)


def test_env_from_a_secret_reaches_the_server_process(store, state_dir, make_tools):
    """env valueFrom.secretKeyRef is read through the resolver and set in the process."""
    env = [{"name": "NOTES_TOKEN", "valueFrom": {"secretKeyRef": {"name": "notes", "key": "t"}}}]
    mcp_server(store, "secretive", stdio_spec(state_dir, env=env))
    seen: list[tuple[str, str, str]] = []

    def secrets(namespace: str, name: str, key: str) -> str:
        seen.append((namespace, name, key))
        return "tok-123"

    tools = make_tools(secrets=secrets)
    result = tools.call(
        "default", "secretive", ToolCall("t", "whoami", {"env": "NOTES_TOKEN", "header": "x"}), "k"
    )
    assert json.loads(result.content)["env"] == "tok-123"
    assert seen == [("default", "notes", "t")]


def test_many_threads_share_one_session(shared):
    """Calls from many threads at once all get their own answer from one server process."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda i: _call(shared, "add", f"burst-{i}", a=i, b=1000), range(16))
        )
    assert [r.content for r in results] == [str(i + 1000) for i in range(16)]
    pids = {c["pid"] for c in calls(shared[1]) if str(c["idempotencyKey"]).startswith("burst-")}
    assert len(pids) == 1


def test_close_during_a_call_fails_it_as_transient(store, state_dir, make_tools):
    """A call still running when close() comes ends with TransientError, not a hang."""
    mcp_server(store, "closing", stdio_spec(state_dir, timeoutSeconds=120))
    tools = make_tools()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(
            tools.call, "default", "closing", ToolCall("t", "slow", {"seconds": 120}), "k"
        )
        deadline = time.monotonic() + 90
        while not calls(state_dir):  # wait until the server has the call
            assert time.monotonic() < deadline, "the slow call never reached the server"
            time.sleep(0.02)
        tools.close()
        with pytest.raises(TransientError) as caught:
            pending.result(timeout=60)
    assert "MCPServer default/closing" in str(caught.value)
