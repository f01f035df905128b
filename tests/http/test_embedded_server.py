"""``baton serve`` without a function: every function in one process behind one port, fed by
``baton publish``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from events import types
from events.envelope import make_event
from functions.ports import Resource
from tests.fixtures.http import Served, post_event
from tests.http.conftest import Serve, World

BATON = str(Path(sys.executable).parent / "baton")


def publish(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``baton publish`` against ``url``."""
    return subprocess.run(
        [BATON, "publish", "--url", url, *args], capture_output=True, text=True, timeout=60
    )


def wait_finished(world: World, name: str, timeout: float = 30) -> dict:
    """The run once it reached a terminal phase."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = world.run(name)
        if run.get("status", {}).get("phase") in ("Succeeded", "Failed", "Cancelled"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {name} not finished: {world.run(name).get('status')}")


def wait_runs(world: World, count: int, timeout: float = 30) -> list[Resource]:
    """The runs once there are ``count`` (the server's route creates them after its 202)."""
    deadline = time.monotonic() + timeout
    while len(world.runs()) < count:
        assert time.monotonic() < deadline, f"{len(world.runs())} runs, not {count}"
        time.sleep(0.05)
    return world.runs()


def embedded(serve: Serve) -> Served:
    """``baton serve`` with no function, on the test's store."""
    return serve(None, command=[BATON, "serve"])


def test_published_request_runs_to_success_once(world: World, serve: Serve) -> None:
    """baton publish of a run.requested creates one AgentRun that Succeeds; a re-send adds none."""
    world.setup(
        [
            {
                "text": "Adding.",
                "toolCalls": [{"name": "calculate", "input": {"expression": "2+3"}}],
            },
            {"text": "2+3 = {{last_tool_result}}"},
        ]
    )
    server = embedded(serve)
    data = '{"agent": "helper", "task": "what is 2+3?"}'
    for _ in range(2):
        sent = publish(server.url, "--data", data, "--id", "req-42", "--source", "/tests/cli")
        assert sent.returncode == 0, sent.stderr
        assert "dev.baton.run.requested req-42" in sent.stdout
    (run,) = wait_runs(world, 1)
    run = wait_finished(world, run["metadata"]["name"])
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"] == "2+3 = 5"
    assert len(world.runs()) == 1
    assert any(key for key, _ in world.store.read_journal(run))


def test_publish_from_a_file(world: World, serve: Serve, tmp_path: Path) -> None:
    """baton publish FILE sends the file's data; a different id is a different run."""
    world.setup([{"text": "done"}])
    server = embedded(serve)
    request = tmp_path / "request.yaml"
    request.write_text("agent: helper\ntask: say done\n")
    for event_id in ("a", "b"):
        assert publish(server.url, str(request), "--id", event_id).returncode == 0
    for run in wait_runs(world, 2):
        assert wait_finished(world, run["metadata"]["name"])["status"]["phase"] == "Succeeded"
    assert len(world.runs()) == 2


def test_publish_reports_a_refused_event(world: World, serve: Serve) -> None:
    """An off-schema request is refused with the server's reason, and exits non-zero."""
    server = embedded(serve)
    sent = publish(server.url, "--data", '{"agent": "helper"}')
    assert sent.returncode == 1
    assert "MalformedEvent" in sent.stderr
    assert "'task' is a required property" in sent.stderr
    assert world.runs() == []


def test_embedded_server_refuses_types_no_function_takes(world: World, serve: Serve) -> None:
    """tool.completed is a record, not a request: the embedded server has nobody to give it to."""
    server = embedded(serve)
    event = make_event(
        types.TOOL_COMPLETED, "/tests", {"run": {"namespace": "default", "name": "x"}, "step": 1}
    )
    reply = post_event(server.url, event)
    assert reply.status == 400
    assert "does not take dev.baton.tool.completed" in reply.json()["message"]
