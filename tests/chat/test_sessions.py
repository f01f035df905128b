"""A chat thread as one session: with BATON_CHAT_MODE=server, one Serving run answers every
message of a thread, in its thread, and a re-sent message is answered once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from functions.cli.manifests import apply
from functions.resources.sqlite import SqliteStore
from functions.runtime.deps import build_deps
from functions.runtime.embedded import Embedded
from tests.chat.conftest import AGENT, ChatWorld, Webhook, channels_for
from tests.chat.platforms import FakePlatform, Signer, slack_mention

THREAD = "1700000000.000100"


@pytest.fixture
def session_world(
    tmp_path: Path, signer: Signer, webhook: Callable[..., Webhook]
) -> Iterator[ChatWorld]:
    """The chat world with the webhook in server mode (a thread is a session)."""
    with ExitStack() as stack:
        platform = stack.enter_context(FakePlatform())
        store = SqliteStore(str(tmp_path / "state.db"))
        deps = build_deps(
            store, offline_fallback=True, channels=channels_for(platform, signer.webhook_secret)
        )
        runtime = Embedded(str(tmp_path / "state.db"), store=store, deps=deps, sweep_interval=0.2)
        apply(store, [d for d in yaml.safe_load_all(AGENT) if d])
        runtime.start()
        stack.callback(runtime.stop)
        hook = webhook(signer.config(mode="server"), runtime.bus.publish)
        yield ChatWorld(runtime, platform, hook)


def _mention(text: str, ts: str) -> dict[str, object]:
    doc = slack_mention(f"<@UBOT> {text}", ts=ts)
    doc["event_id"] = f"Ev{ts}"
    doc["event"]["thread_ts"] = THREAD  # type: ignore[index]
    return doc


def _wait_inputs_taken(world: ChatWorld, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = world.runs()
        st = (runs[0].get("status") or {}) if runs else {}
        if st.get("phase") == "Serving" and st.get("inputsTaken", 0) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"the session did not answer {count} inputs: {world.runs()}")


def test_two_messages_in_one_thread_are_answered_by_one_serving_run(
    session_world: ChatWorld, signer: Signer
) -> None:
    """Both answers land in the thread, in order; one run, still Serving, took the second."""
    world = session_world
    first = _mention("what is 2+3?", "1700000001.000200")
    assert world.hook.post("slack", signer.slack(first)).status == 200
    world.platform.wait_for(1)
    second = _mention("and 3+4?", "1700000002.000300")
    assert world.hook.post("slack", signer.slack(second)).status == 200
    assert world.hook.post("slack", signer.slack(second)).status == 200  # Slack retries
    _wait_inputs_taken(world, 1)
    posts = world.platform.wait_for(2)
    assert [p.json()["text"] for p in posts] == ["You asked: what is 2+3?", "You asked: and 3+4?"]
    assert {p.json()["thread_ts"] for p in posts} == {THREAD}
    assert world.runtime.bus.wait_idle(30), "the session's chain is still busy"
    (run,) = world.runs()
    assert (run["spec"]["mode"], run["status"]["phase"]) == ("server", "Serving")
    assert (run["status"]["inputs"], run["status"]["inputsTaken"]) == (1, 1)
    assert len(world.platform.requests) == 2  # the re-sent message was answered once
