"""Server mode end to end on the embedded shape: a Serving run answers `baton send` inputs
in order, once each, and ends Succeeded when idle past its idleTTL."""

from __future__ import annotations

import time
from typing import Any

from functions.cli.main import main
from functions.runtime.embedded import Embedded
from tests.e2e.conftest import docs_of, run_docs, wait_terminal

SESSION = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: echo-model}
spec:
  provider: scripted
  script:
    - text: "You said: {{task}}"
      usage: {input: 10, output: 5}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: echo}
spec:
  modelRef: {name: echo-model}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: chat}
spec:
  agentRef: {name: echo}
  mode: server
  idleTTL: IDLE
"""


def _serving(rt: Embedded, taken: int = 0, timeout: float = 20) -> dict[str, Any]:
    """The run once it is Serving with ``taken`` inputs taken and the bus idle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = rt.store.get("AgentRun", "default", "chat")
        st = run.get("status") or {}
        if (st.get("phase"), st.get("stage"), st.get("inputsTaken", 0)) == (
            "Serving",
            "Input",
            taken,
        ):
            assert rt.bus.wait_idle(30), "the session's chain is still busy"
            return rt.store.get("AgentRun", "default", "chat")
        time.sleep(0.02)
    raise AssertionError(f"chat not Serving with {taken} inputs: {run.get('status')}")


def test_inputs_sent_with_baton_send_are_answered_in_order(embedded: Any, capsys: Any) -> None:
    """Two `baton send`s: each answered (printed with --wait), the transcript holds both."""
    rt = embedded()
    run_docs(rt, docs_of(SESSION.replace("IDLE", "30m")))
    assert _serving(rt)["status"]["step"] == 0
    db = ["--db", rt.db_path]
    assert main([*db, "send", "chat", "I am Ada.", "--wait", "--timeout", "20"]) == 0
    assert main([*db, "send", "chat", "Who am I?", "--wait", "--timeout", "20"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "agentrun/chat: input 1 sent",
        "You said: I am Ada.",
        "agentrun/chat: input 2 sent",
        "You said: Who am I?",
    ]
    run = _serving(rt, taken=2)
    assert (run["status"]["step"], run["status"]["result"]) == (2, "You said: Who am I?")
    assert run["status"]["tokenUsage"]["total"] == 30
    keys = [k for k, _ in rt.store.read_journal(run) if k.startswith(("user/", "reply/"))]
    assert keys == ["user/1", "reply/1", "user/2", "reply/2"]
    assert main([*db, "logs", "chat"]) == 0
    logs = capsys.readouterr().out
    assert logs.index("I am Ada.") < logs.index("You said: I am Ada.") < logs.index("Who am I?")
    types = [e.type for e in rt.events.read("default/chat")]
    assert types.count("dev.baton.run.replied") == 2
    assert "dev.baton.run.completed" not in types


def test_a_duplicated_input_is_answered_once(embedded: Any, capsys: Any) -> None:
    """The same send twice (same --id) and every event delivered twice: one answer."""
    rt = embedded(dedupe_window=0)
    seen: set[str] = set()

    def redeliver(event: Any) -> None:
        if event.get_id() not in seen:
            seen.add(event.get_id())
            rt.bus.publish(event)

    rt.bus.tap(redeliver)
    run_docs(rt, docs_of(SESSION.replace("IDLE", "30m")))
    _serving(rt)
    db = ["--db", rt.db_path]
    assert main([*db, "send", "chat", "hello", "--id", "m-1"]) == 0
    assert main([*db, "send", "chat", "hello", "--id", "m-1"]) == 0
    run = _serving(rt, taken=1)
    assert run["status"]["inputs"] == 1
    assert run["status"]["tokenUsage"]["total"] == 15
    replies = [k for k, _ in rt.store.read_journal(run) if k.startswith("reply/")]
    assert replies == ["reply/1"]
    assert capsys.readouterr().out.count("input 1 sent") == 2


def test_an_idle_session_ends_succeeded(embedded: Any) -> None:
    """No input for idleTTL: the run ends Succeeded, reason IdleTimeout, last answer kept."""
    rt = embedded()
    run_docs(rt, docs_of(SESSION.replace("IDLE", "1s")))
    _serving(rt)
    assert main(["--db", rt.db_path, "send", "chat", "bye", "--wait", "--timeout", "20"]) == 0
    run = wait_terminal(rt, "chat")
    assert (run["status"]["phase"], run["status"]["result"]) == ("Succeeded", "You said: bye")
    ready = next(c for c in run["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "IdleTimeout"


def test_send_to_a_task_run_is_refused(embedded: Any, capsys: Any) -> None:
    """`baton send` names what is wrong when the run is not a session."""
    rt = embedded()
    task_run = SESSION.replace("  mode: server\n", "  task: hi\n").replace("IDLE", "30m")
    run_docs(rt, docs_of(task_run))
    wait_terminal(rt, "chat")
    assert main(["--db", rt.db_path, "send", "chat", "more?"]) == 1
    assert "not a server-mode run" in capsys.readouterr().err


def test_send_wait_answers_when_no_runtime_serves_the_store(embedded: Any, capsys: Any) -> None:
    """`baton send --wait` after the `baton run` that started the session has exited."""
    rt = embedded()
    run_docs(rt, docs_of(SESSION.replace("IDLE", "30m")))
    _serving(rt)
    rt.stop()
    capsys.readouterr()
    assert (
        main(["--db", rt.db_path, "send", "chat", "still there?", "--wait", "--timeout", "20"]) == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "agentrun/chat: input 1 sent",
        "chat: no baton runtime took it up; running it here",
        "You said: still there?",
    ]


def test_baton_run_of_a_session_returns_once_it_serves(tmp_path: Any, capsys: Any) -> None:
    """`baton run` on a server-mode run prints the first answer and how to go on, then exits 0."""
    path = tmp_path / "session.yaml"
    path.write_text(
        SESSION.replace("IDLE", "30m").replace("mode: server", "mode: server\n  task: Hi there")
    )
    started = time.monotonic()
    code = main(["--db", str(tmp_path / "s.db"), "run", str(path), "--timeout", "15"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert time.monotonic() - started < 10, out
    assert "answer: You said: Hi there" in out
    assert "\nchat: Serving, 1 model turn, 0 tool calls, 15 tokens" in out
    assert 'chat: Serving: send it more with baton send chat "..." --wait' in out


def test_send_takes_the_namespace_given_before_the_command(embedded: Any, capsys: Any) -> None:
    """`baton -n team-a send ...` finds the session in team-a, as `baton -n team-a get` does."""
    rt = embedded()
    docs = docs_of(SESSION.replace("IDLE", "30m"))
    for doc in docs:
        doc["metadata"]["namespace"] = "team-a"
    run_docs(rt, docs)
    assert main(["--db", rt.db_path, "-n", "team-a", "send", "chat", "hello"]) == 0
    assert capsys.readouterr().out == "agentrun/chat: input 1 sent\n"
