"""One stdio MCP server per process and spec: started once, stopped with its owner.

Runs starting at once used to race to build their own MCP client, each starting its own copy
of the same server and leaving it running until the process exited; a SIGKILLed process left
them all behind. These tests count the server processes from outside (the test server
records its pid when it starts) and look for survivors with psutil.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from events.errors import PermanentError
from functions.cli.manifests import apply
from functions.ports import API_VERSION, ToolCall
from functions.resources.sqlite import SqliteStore
from functions.run.status import is_terminal
from functions.runtime.deps import build_deps
from functions.runtime.embedded import Embedded
from functions.tools.mcp_child import supported
from tests.fakes.mcp_servers import REPO, calls, starts
from tests.tools.conftest import mcp_server, stdio_spec

RUNS = 20


def _doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    meta = {"name": name, "namespace": "default"}
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


def _docs(state_dir: Path) -> list[dict[str, Any]]:
    script = [
        {"toolCalls": [{"id": "toolu_add", "name": "add", "input": {"a": 2, "b": 40}}]},
        {"text": "The sum is {{last_tool_result}}"},
    ]
    agent = {"modelRef": {"name": "scripted"}, "tools": [{"mcpServer": "adder"}]}
    return [
        _doc("MCPServer", "adder", stdio_spec(state_dir, tools={"allow": ["add"]})),
        _doc("Model", "scripted", {"provider": "scripted", "model": "s", "script": script}),
        _doc("Agent", "summer", agent),
        *(
            _doc("AgentRun", f"sum-{i}", {"agentRef": {"name": "summer"}, "task": "Add."})
            for i in range(RUNS)
        ),
    ]


def _servers_over(state_dir: Path) -> list[psutil.Process]:
    """Live (non-zombie) processes serving ``state_dir``, whoever their parent is now."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        pairs = itertools.pairwise(cmdline)
        serving = any(a == "--state" and b == str(state_dir) for a, b in pairs)
        if serving and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def _wait_gone(state_dir: Path, why: str, timeout: float = 30) -> None:
    """Until no process serves ``state_dir`` (a stopped server may take a moment to exit)."""
    deadline = time.monotonic() + timeout
    while servers := _servers_over(state_dir):
        assert time.monotonic() < deadline, (why, [p.pid for p in servers])
        time.sleep(0.05)


def test_runs_starting_at_once_on_one_runtime_start_one_server(tmp_path):
    """20 runs at once on the default embedded runtime: one server process, every run done."""
    state_dir = tmp_path / "adder-state"
    store = SqliteStore(str(tmp_path / "state.db"))
    # build_deps: the toolbox builds its MCP client on first use, as `baton run` does.
    rt = Embedded(str(tmp_path / "state.db"), store=store, deps=build_deps(store), sweep_interval=0)
    rt.start()
    try:
        apply(store, _docs(state_dir))
        deadline = time.monotonic() + 120
        while not all(
            is_terminal(store.get("AgentRun", "default", f"sum-{i}")) for i in range(RUNS)
        ):
            assert time.monotonic() < deadline, "the runs did not finish"
            time.sleep(0.05)
        phases = {
            store.get("AgentRun", "default", f"sum-{i}")["status"]["phase"] for i in range(RUNS)
        }
        assert phases == {"Succeeded"}
        assert len(starts(state_dir)) == 1
        assert len(calls(state_dir)) == RUNS
        assert [p.pid for p in _servers_over(state_dir)] == starts(state_dir)
    finally:
        rt.stop()
    _wait_gone(state_dir, "the server outlived the runtime that owned it")


def test_baton_run_with_twenty_runs_at_once_starts_one_server(tmp_path):
    """`baton run` of 20 runs in a fresh process (the MCP client built lazily): one server."""
    state_dir = tmp_path / "adder-state"
    manifest = tmp_path / "runs.yaml"
    manifest.write_text(yaml.safe_dump_all(_docs(state_dir)))
    env = {**os.environ, "PYTHONPATH": str(REPO), "BATON_DB": str(tmp_path / "state.db")}
    proc = subprocess.run(
        [sys.executable, "-m", "functions.cli.main", "run", str(manifest), "--timeout", "120"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert len(calls(state_dir)) == RUNS
    assert len(starts(state_dir)) == 1
    _wait_gone(state_dir, "the server outlived `baton run`")


def test_mcp_servers_with_one_spec_share_one_process(store, state_dir, tools):
    """Two MCPServers with the same spec in a namespace use one server process."""
    spec = stdio_spec(state_dir)
    mcp_server(store, "first", spec)
    mcp_server(store, "second", spec)
    tools.call("default", "first", ToolCall("a", "add", {"a": 1, "b": 1}), "k1")
    result = tools.call("default", "second", ToolCall("b", "add", {"a": 2, "b": 2}), "k2")
    assert result.content == "4"
    assert len(starts(state_dir)) == 1


def test_an_edited_spec_stops_the_old_server(store, state_dir, tools):
    """After its spec changes, an MCPServer's next call starts a new server; the old one exits."""
    resource = mcp_server(store, "edited", stdio_spec(state_dir))
    tools.call("default", "edited", ToolCall("a", "add", {"a": 1, "b": 1}), "k1")
    resource["spec"] = stdio_spec(state_dir, env=[{"name": "EXTRA", "value": "1"}])
    store.update(resource)
    tools.call("default", "edited", ToolCall("b", "add", {"a": 2, "b": 2}), "k2")
    old, new = starts(state_dir)
    deadline = time.monotonic() + 30  # the old session closes in the background
    while old in [p.pid for p in _servers_over(state_dir)]:
        assert time.monotonic() < deadline, "the old server is still running"
        time.sleep(0.05)
    assert [p.pid for p in _servers_over(state_dir)] == [new]


def test_a_missing_command_is_a_permanent_error(store, state_dir, tools):
    """A command that is not on PATH fails the call permanently, naming the command."""
    mcp_server(store, "typo", {"transport": "stdio", "command": "no-such-mcp-server"})
    with pytest.raises(PermanentError) as caught:
        tools.call("default", "typo", ToolCall("a", "add", {"a": 1, "b": 1}), "k1")
    assert caught.value.reason == "InvalidMCPServer"
    assert "cannot start 'no-such-mcp-server'" in str(caught.value)


@pytest.mark.skipif(not supported(), reason="PR_SET_PDEATHSIG is Linux only")
def test_no_server_survives_a_sigkill_of_its_owner(tmp_path):
    """SIGKILL the process that started two stdio servers: both servers die with it."""
    states = [tmp_path / "one", tmp_path / "two"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    owner = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.mcp_owner", *map(str, states)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "ready"
        servers = [p for state in states for p in _servers_over(state)]
        assert sorted(p.pid for p in servers) == sorted(pid for s in states for pid in starts(s))
        assert all(p.ppid() == owner.pid for p in servers)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(30)
    deadline = time.monotonic() + 30
    while any(_servers_over(state) for state in states):
        assert time.monotonic() < deadline, [p.pid for s in states for p in _servers_over(s)]
        time.sleep(0.05)


class _Sink:
    """Collects what a function app posts to its sink."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def publish_all(self, events: list[Any]) -> None:
        self.events.extend(events)

    def close(self) -> None:
        pass


def test_a_function_app_stops_its_servers_when_it_closes(tmp_path):
    """The call_tool app (gunicorn's worker_exit closes it) stops the server its call started."""
    from events.apiserver import resource_event
    from events.codecs.http import to_binary
    from functions import chain
    from functions.serve.app import create_app
    from functions.serve.settings import Settings

    state_dir, db = tmp_path / "adder-state", tmp_path / "state.db"
    store = SqliteStore(str(db))
    apply(store, _docs(state_dir)[:4])  # the server, model, agent and run sum-0
    stepping = build_deps(store)  # takes the run to its tool call, here
    try:
        event = resource_event("ADDED", store.get("AgentRun", "default", "sum-0"))
        for function in ("validate", "prepare_context", "call_llm"):
            (event,) = chain.bind(function, stepping)(event)
    finally:
        stepping.tools.close()
    sink = _Sink()  # where Knative's broker would take the emitted events
    settings = Settings(store=f"sqlite:///{db}")
    app = create_app("call_tool", settings=settings, store=store, sink=sink)  # type: ignore[arg-type]
    message = to_binary(event)
    try:
        answer = app.test_client().post("/", headers=dict(message.headers), data=message.body)
        assert answer.status_code == 202, answer.get_data(as_text=True)
        assert [e.get_type() for e in sink.events] == [
            "dev.baton.tool.completed",
            "dev.baton.llm.requested",
        ]
        assert len(calls(state_dir)) == 1
        assert len(_servers_over(state_dir)) == 1
    finally:
        app.extensions["baton"]["close"]()
    _wait_gone(state_dir, "the server outlived its app")  # it exits once its session closed
