"""`baton send` to a session served by another process: the CLI only writes the store, and the
served runtime's sweep wakes the run (no shared bus between the two processes)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from functions.cli.main import main
from tests.http.conftest import Serve, World

BATON = str(Path(sys.executable).parent / "baton")

SESSION = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: echo-model, namespace: default}
spec:
  provider: scripted
  script:
    - text: "You said: {{task}}"
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: echo, namespace: default}
spec:
  modelRef: {name: echo-model}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: chat, namespace: default}
spec:
  agentRef: {name: echo}
  mode: server
"""


def test_baton_send_reaches_a_session_in_another_process(
    world: World, serve: Serve, capsys: Any
) -> None:
    """Two inputs sent from this process are answered, in order, by `baton serve`."""
    serve(None, command=[BATON, "serve", "--threads", "4"])
    world.apply(SESSION)
    db = ["--db", str(world.db)]
    assert main([*db, "send", "chat", "first", "--wait", "--timeout", "30"]) == 0
    assert main([*db, "send", "chat", "second", "--wait", "--timeout", "30"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "agentrun/chat: input 1 sent",
        "You said: first",
        "agentrun/chat: input 2 sent",
        "You said: second",
    ]
    st = world.run("chat")["status"]
    assert (st["phase"], st["inputs"], st["inputsTaken"], st["step"]) == ("Serving", 2, 2, 2)
