"""``baton serve`` filters what arrives for AgentTriggers with a cloudEvent source."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from functions.cli.manifests import apply, load_files
from tests.fixtures.kube import REPO
from tests.http.conftest import Serve, World, serve, world

__all__ = ["serve", "world"]

BATON = str(Path(sys.executable).parent / "baton")
PULL_REQUEST = "dev.knative.source.github.pull_request"


def _publish(
    url: str, type_: str, id_: str, data: dict[str, object]
) -> subprocess.CompletedProcess[str]:
    command = [BATON, "publish", "--url", url, "--type", type_, "--source", "/github/acme",
               "--id", id_, "--data", json.dumps(data)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def _pull_request(action: str, number: int = 7) -> dict[str, object]:
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "title": "Retry payments on 503",
            "draft": False,
            "user": {"login": "ana"},
            "html_url": f"https://example.invalid/acme/shop/pull/{number}",
            "head": {"sha": "4b825dc"},
        },
        "repository": {"name": "shop", "full_name": "acme/shop"},
    }


def test_a_github_event_published_to_baton_serve_starts_one_review(
    world: World, serve: Serve
) -> None:
    """The sample's trigger takes an opened pull request once; a closed one or a re-send, no run."""
    apply(world.store, load_files([str(REPO / "config" / "samples" / "github-review.yaml")]))
    server = serve(None, command=[BATON, "serve"])
    for _ in range(2):
        sent = _publish(server.url, PULL_REQUEST, "delivery-1", _pull_request("opened"))
        assert sent.returncode == 0, sent.stderr
    closed = _publish(server.url, PULL_REQUEST, "delivery-2", _pull_request("closed", 8))
    assert closed.returncode == 0, closed.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = world.runs()
        if runs and (runs[0].get("status") or {}).get("phase") == "Succeeded":
            break
        time.sleep(0.1)
    [run] = world.runs()
    assert run["spec"]["task"].startswith('Review pull request #7 "Retry payments on 503"')
    assert run["metadata"]["labels"]["baton.dev/trigger"] == "review-pull-requests"
    assert run["status"]["phase"] == "Succeeded"


def test_an_event_no_function_or_trigger_takes_is_refused(world: World, serve: Serve) -> None:
    """A type nobody takes gets 400 naming it, as before triggers."""
    apply(world.store, load_files([str(REPO / "config" / "samples" / "github-review.yaml")]))
    server = serve(None, command=[BATON, "serve"])
    sent = _publish(server.url, "com.example.unknown", "x-1", {"a": 1})
    assert sent.returncode == 1
    assert "does not take com.example.unknown events" in sent.stderr
