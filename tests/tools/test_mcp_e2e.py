"""AgentRuns that use MCP tools, end to end in the embedded shape, and at-most-once effects.

A scripted model stores a note with the server's ``put_note`` and reads it back with
``get_note``; the run succeeds with the server's real answers in its journal. Redelivered
``tool.requested`` events never reach the server a second time: the server records every
idempotency key it sees, and each appears once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from events import types
from functions import call_llm, call_tool
from functions.cli.manifests import apply
from functions.ports import API_VERSION, Deps
from functions.resources.sqlite import SqliteStore
from functions.run.status import is_terminal
from functions.runtime.deps import build_deps
from functions.runtime.embedded import Embedded
from functions.tools import AgentToolbox
from functions.tools.mcp import MCPTools
from tests.fakes.mcp_servers import REPO, HTTPServer, calls
from tests.fakes.model import tool_use
from tests.tools.conftest import stdio_spec
from tests.transitions.harness import Harness

NOTE = "Demo the MCP tools at 10:00."


def _docs(server_spec: dict[str, Any]) -> list[dict[str, Any]]:
    def doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec,
        }

    script = [
        {
            "toolCalls": [
                {"id": "toolu_put", "name": "put_note", "input": {"key": "standup", "text": NOTE}}
            ]
        },
        {"toolCalls": [{"id": "toolu_get", "name": "get_note", "input": {"key": "standup"}}]},
        {"text": "Your note: {{last_tool_result}}"},
    ]
    return [
        doc("MCPServer", "notes", {**server_spec, "tools": {"allow": ["*_note"]}}),
        doc("Model", "scripted", {"provider": "scripted", "model": "s", "script": script}),
        doc(
            "Agent",
            "note-taker",
            {
                "modelRef": {"name": "scripted"},
                "systemPrompt": "Take notes.",
                "tools": [{"mcpServer": "notes"}],
            },
        ),
        doc("AgentRun", "notes-run", {"agentRef": {"name": "note-taker"}, "task": "Note it."}),
    ]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Callable[..., Embedded]]:
    """A factory of embedded runtimes whose toolbox uses an MCPTools the test closes."""
    made: list[tuple[Embedded, MCPTools]] = []

    def make(**kwargs: Any) -> Embedded:
        db = str(tmp_path / f"state{len(made)}.db")
        store = SqliteStore(db)
        mcp = MCPTools(store, environ={})
        deps = dataclasses.replace(
            build_deps(store, offline_fallback=True), tools=AgentToolbox(store, mcp=mcp)
        )
        rt = Embedded(db, store=store, deps=deps, sweep_interval=0, **kwargs)
        rt.start()
        made.append((rt, mcp))
        return rt

    yield make
    for rt, mcp in made:
        rt.stop()
        mcp.close()


def _finish(rt: Embedded, docs: list[dict[str, Any]], name: str = "notes-run") -> dict[str, Any]:
    """Apply ``docs`` and wait for run ``name`` to end (a stdio server takes seconds to start)."""
    apply(rt.store, docs)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        run = rt.store.get("AgentRun", "default", name)
        if is_terminal(run):
            assert rt.bus.wait_idle(30), f"run {name} ended but its chain is still busy"
            return rt.store.get("AgentRun", "default", name)
        time.sleep(0.02)
    raise AssertionError(f"run {name} did not finish: {run.get('status')}")


def _assert_noted(rt: Embedded, run: dict[str, Any], state_dir: Path) -> None:
    status = run["status"]
    assert status["phase"] == "Succeeded", status
    assert status["result"] == f"Your note: {NOTE}"
    journal = dict(rt.store.read_journal(run))
    assert journal["tool/1/toolu_put"]["content"] == "stored standup"
    assert journal["tool/2/toolu_get"] == {
        "tool_use_id": "toolu_get",
        "name": "get_note",
        "content": NOTE,
        "is_error": False,
    }
    uid = run["metadata"]["uid"]
    assert [c["idempotencyKey"] for c in calls(state_dir)] == [
        f"{uid}/1/call_tool/toolu_put",
        f"{uid}/2/call_tool/toolu_get",
    ]


def test_a_run_uses_an_mcp_server_over_stdio(runtime, tmp_path):
    """Model -> put_note/get_note on a stdio server -> Succeeded with the note read back."""
    rt = runtime()
    state_dir = tmp_path / "stdio-state"
    run = _finish(rt, _docs(stdio_spec(state_dir)))
    _assert_noted(rt, run, state_dir)
    context = dict(rt.store.read_journal(run))["context"]
    assert [t["name"] for t in context["tools"]] == ["put_note", "get_note"]


def test_a_run_uses_an_mcp_server_over_http(runtime, tmp_path):
    """The same run against the streamable-HTTP server."""
    rt = runtime()
    state_dir = tmp_path / "http-state"
    with HTTPServer(state_dir) as server:
        run = _finish(rt, _docs({"transport": "http", "url": server.url}))
    _assert_noted(rt, run, state_dir)


def test_every_event_delivered_twice_reaches_the_server_once(runtime, tmp_path):
    """Each event of the chain handled twice at once: every tool effect still happens once."""
    rt = runtime(dedupe_window=0)
    seen: set[str] = set()

    def redeliver(event: Any) -> None:
        if event.get_id() not in seen:
            seen.add(event.get_id())
            rt.bus.publish(event)

    rt.bus.tap(redeliver)
    state_dir = tmp_path / "twice-state"
    run = _finish(rt, _docs(stdio_spec(state_dir)))
    _assert_noted(rt, run, state_dir)
    assert len(seen) >= 9  # every event of the chain really went round twice


def test_a_redelivered_tool_request_after_a_crash_does_not_run_the_tool_again(tmp_path):
    """Tool ran and its result was journaled, then the status write died: redelivery closes only."""
    h = Harness()
    state_dir = tmp_path / "crash-state"
    mcp = MCPTools(h.store, environ={})
    h.deps = Deps(h.store, h.models, AgentToolbox(h.store, mcp=mcp), h.clock)
    try:
        h.create("MCPServer", "notes", stdio_spec(state_dir))
        h.world(tools=[{"mcpServer": "notes"}])
        h.models.script("m1", tool_use(("t1", "put_note", {"key": "k", "text": "once"})))
        (requested,) = call_llm.handle(h.prepared()[0], h.deps)
        h.store.crash_commit(skip=1)  # the claim lands; the result's status write dies
        with pytest.raises(ConnectionError):
            call_tool.handle(requested, h.deps)
        out = call_tool.handle(requested, h.deps)  # the redelivery, while the claim still lives
        assert [e.get_type() for e in out] == [types.TOOL_COMPLETED, types.LLM_REQUESTED]
        # One after the step moved on: only what the run needs now, the same next turn.
        again = call_tool.handle(requested, h.deps)
        assert [(e.get_type(), e.get_id()) for e in again] == [
            (types.LLM_REQUESTED, out[1].get_id())
        ]
    finally:
        mcp.close()
    uid = h.get()["metadata"]["uid"]
    assert h.journal()["tool/1/t1"]["content"] == "stored k"
    assert [c["idempotencyKey"] for c in calls(state_dir)] == [f"{uid}/1/call_tool/t1"]


def test_the_mcp_sample_runs_offline(runtime):
    """config/samples/mcp.yaml: the demo notes server over stdio, answer read back."""
    docs = [d for d in yaml.safe_load_all((REPO / "config/samples/mcp.yaml").read_text()) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = "default"
    run = _finish(runtime(), docs, "mcp-demo")
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert run["status"]["result"] == "Noted. Your standup note says: Demo the MCP tools at 10:00."
