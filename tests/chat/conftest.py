"""Fixtures for the chat tests: the webhook app under a real loopback server, fake platforms,
and an embedded runtime whose answers go to those fakes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from events.envelope import CloudEvent
from events.sources.chat import ChatConfig
from functions.channels import ChatChannels
from functions.cli.manifests import apply
from functions.ports import Resource
from functions.resources.sqlite import SqliteStore
from functions.run.status import is_terminal
from functions.runtime.deps import build_deps
from functions.runtime.embedded import Embedded
from functions.serve.webhook import create_webhook_app
from tests.chat.platforms import REPLY_URLS, FakePlatform, Signer, serve_app
from tests.fixtures.http import HTTPReply, request

SLACK_BOT_TOKEN = "xoxb-test-token"
TELEGRAM_BOT_TOKEN = "123456:telegram-bot-token"

AGENT = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: scripted, namespace: default}
spec:
  provider: scripted
  script:
    - text: "You asked: {{task}}"
      usage: {input: 10, output: 5}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: helper, namespace: default}
spec:
  modelRef: {name: scripted}
  systemPrompt: You help.
"""


@pytest.fixture
def signer() -> Signer:
    """This test's platform secrets and a signer for requests."""
    return Signer()


@dataclass
class Webhook:
    """The webhook app served on loopback, publishing into ``published``."""

    url: str
    published: list[CloudEvent] = field(default_factory=list)

    def post(self, path: str, signed: tuple[bytes, dict[str, str]]) -> HTTPReply:
        """POST a signed (body, headers) pair to ``/path``."""
        body, headers = signed
        return request(f"{self.url}/{path}", "POST", body, headers)


@pytest.fixture
def webhook(signer: Signer) -> Iterator[Callable[..., Webhook]]:
    """``webhook(config=None, publish=None)``: the app under werkzeug; events recorded."""
    with ExitStack() as stack:

        def start(
            config: ChatConfig | None = None,
            publish: Callable[[CloudEvent], None] | None = None,
        ) -> Webhook:
            published: list[CloudEvent] = []
            app = create_webhook_app(config or signer.config(), publish or published.append)
            url = stack.enter_context(serve_app(app))
            return Webhook(url, published)

        yield start


@dataclass
class ChatWorld:
    """An embedded runtime answering chat messages; its answers go to ``platform``."""

    runtime: Embedded
    platform: FakePlatform
    hook: Webhook

    @property
    def store(self) -> SqliteStore:
        """The runtime's store."""
        return self.runtime.store  # type: ignore[return-value]

    def runs(self) -> list[Resource]:
        """Every AgentRun."""
        return self.store.list("AgentRun")

    def finished(self, timeout: float = 20) -> Resource:
        """The only run, once terminal and its delivery recorded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs()
            if runs and is_terminal(runs[0]) and _delivered(runs[0]):
                assert self.runtime.bus.wait_idle(30), "the run ended; its chain is still busy"
                return self.store.get("AgentRun", "default", runs[0]["metadata"]["name"])
            time.sleep(0.01)
        raise AssertionError(f"no delivered run after {timeout}s: {self.runs()}")


def _delivered(run: Resource) -> bool:
    conds = (run.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Delivered" and c["status"] != "Unknown" for c in conds)


def channels_for(platform: FakePlatform, secret: str) -> ChatChannels:
    """Every adapter pointed at the fake platform's URL."""
    return ChatChannels.from_env(
        {
            "BATON_SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
            "BATON_SLACK_API_URL": platform.url + "/api",
            "BATON_DISCORD_API_URL": platform.url + "/api/v10",
            "BATON_TELEGRAM_BOT_TOKEN": TELEGRAM_BOT_TOKEN,
            "BATON_TELEGRAM_API_URL": platform.url,
            "BATON_WEBHOOK_REPLY_SECRET": secret,
            "BATON_WEBHOOK_REPLY_URLS": ",".join(REPLY_URLS),
            "BATON_CHANNEL_TIMEOUT": "5",
        }
    )


@pytest.fixture
def chat_world(
    tmp_path: Path, signer: Signer, webhook: Callable[..., Webhook]
) -> Iterator[ChatWorld]:
    """A signed webhook -> embedded runtime (scripted ``helper`` agent) -> fake platform."""
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
        hook = webhook(signer.config(), runtime.bus.publish)
        yield ChatWorld(runtime, platform, hook)
