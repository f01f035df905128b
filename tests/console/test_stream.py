"""The live list over HTTP: a snapshot, then each change as it happens (real gunicorn)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from tests.console.conftest import Console
from tests.console.test_browser import SLOW


def _events(conn: http.client.HTTPConnection, path: str) -> Iterator[tuple[str, Any]]:
    conn.request("GET", path, headers={"Accept": "text/event-stream"})
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    name = ""
    while True:
        line = response.readline().decode()
        if not line:
            return
        if line.startswith("event: "):
            name = line[7:].strip()
        elif line.startswith("data: "):
            yield name, json.loads(line[6:])


def test_the_stream_sends_a_snapshot_then_every_change(console: Console) -> None:
    """A run created after the snapshot arrives as changes up to Succeeded, counts included."""
    console.sample("hello.yaml")
    url = urlsplit(console.served.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    stream = _events(conn, "/console/api/runs/stream?agent=thinker")
    kind, snapshot = next(stream)
    assert kind == "snapshot"
    assert snapshot["runs"] == [] and sum(snapshot["counts"].values()) == 0  # hello filtered out
    console.apply(SLOW)
    phases = []
    for kind, change in stream:
        assert kind == "change" and change["run"]["name"] == "slow-run"
        phases.append(change["run"]["phase"])
        if change["run"]["phase"] == "Succeeded":
            assert change["counts"]["Succeeded"] == 1 and change["counts"]["Running"] == 0
            break
    conn.close()
    assert "Running" in phases and phases[-1] == "Succeeded"
