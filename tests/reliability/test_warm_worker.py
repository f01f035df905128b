"""A NATS worker is ready to call the model and its tools before it takes its first event.

Taken cold, a restarted worker's first deliveries import the model SDK and start the MCP
server (1.5-3 s on a busy node) while holding their claims and every concurrency slot; a
kill in that window strands them. functions/runtime/warmup.py does that work first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from functions.cli.manifests import apply
from functions.resources.sqlite import SqliteStore
from tests.fixtures.nats import nats_server, nats_url
from tests.reliability.chaos_world import FAKE_KEY, KEY_ENV, manifests

__all__ = ["nats_server", "nats_url"]  # fixtures

ROOT = Path(__file__).resolve().parents[2]
# Starts a worker that takes no event, then says what it has running.
PROBE = """
import json, os, sys
from pathlib import Path
from functions.runtime.workers import Worker
with Worker(["call_llm", "call_tool"], sys.argv[1], sys.argv[2]) as worker:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                argv = (entry / "cmdline").read_bytes().split(b"\\0")
            except OSError:
                continue
            if int(stat[1]) == os.getpid():
                children.append(" ".join(a.decode() for a in argv if a))
    print(json.dumps({"sdk": "anthropic" in sys.modules, "children": children}))
"""


def test_a_worker_has_its_model_client_and_mcp_server_before_any_event(
    nats_url: str, tmp_path: Path
) -> None:
    """Right after start, with no event taken: the SDK is loaded and the MCP server runs."""
    db = tmp_path / "state.db"
    effects = tmp_path / "effects.jsonl"
    apply(SqliteStore(str(db)), manifests("http://127.0.0.1:9", effects))
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, nats_url, str(db)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), KEY_ENV: FAKE_KEY, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert seen["sdk"], "the model SDK is imported only by the first model call"
    assert any("tests.fakes.effect_tool" in c for c in seen["children"]), seen
    assert not effects.exists(), "warming up must not call a tool"
