"""The rest of issue 10's findings (4, 5, 6, 7) and issue 9's finding 15, each as a user sees it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import Headers

from events.errors import MalformedEvent, PermanentError
from events.sources.chat import generic
from functions.channels.generic import WebhookChannel
from functions.models.keys import POLICY_KEY, POLICY_SECRET, resolve_api_key
from functions.ports import ToolCall, ToolContext
from functions.resources.sqlite import SqliteStore
from functions.run import policy
from functions.tools.builtin import BUILTINS, run_builtin
from functions.tools.mcp_config import server_config
from tests.chat.platforms import Signer
from tests.fixtures.http import free_port, request, serve_function

BATON = str(Path(sys.executable).parent / "baton")


# Finding 4: allow: [] narrows to nothing.


def test_an_empty_allow_list_allows_no_tool() -> None:
    """allow: [] in an override denies every tool; an absent allow denies none."""
    agent = {"allow": ["*"]}
    assert policy.decide("calculate", agent, {"allow": []}) == "deny"
    assert policy.decide("calculate", {"allow": []}) == "deny"
    assert policy.decide("calculate", agent, {"deny": []}) == "allow"
    assert policy.decide("calculate", agent, None) == "allow"


# Issue 9, finding 15: a zone that is a directory of the zone database.


@pytest.mark.parametrize(
    "zone", ["America", "../../etc/passwd", "/etc/localtime", "Europe/", "x" * 500]
)
def test_current_time_refuses_a_non_zone_naming_it_and_no_path(zone: str, tmp_path: Path) -> None:
    """An is_error result naming the zone; never a server path, never an exception."""
    ctx = ToolContext(
        run={"metadata": {}},
        agent={},
        idempotency_key="k",
        store=SqliteStore(str(tmp_path / "s.db")),
    )
    result = run_builtin(
        BUILTINS["current_time"], ToolCall("c", "current_time", {"timezone": zone}), ctx
    )
    assert result.is_error
    assert "unknown timezone" in result.content and zone[:20] in result.content
    assert "/usr/share" not in result.content and "zoneinfo" not in result.content.lower()


# Finding 5: replies carry their own secret and go only where the allow-list says.


def test_generic_replyto_outside_the_allow_list_is_refused_on_the_way_in() -> None:
    """A signed message whose replyTo is not allowed: 400 naming the setting, no event."""
    signer = Signer()
    for url in ("http://169.254.169.254/latest/meta-data", "https://evil.example/x"):
        body, headers = signer.webhook({"text": "hi", "thread": "t", "replyTo": url})
        with pytest.raises(MalformedEvent) as refused:
            generic.parse(Headers(headers), body, signer.config(), time.time())
        assert "BATON_WEBHOOK_REPLY_URLS" in refused.value.message
    body, headers = signer.webhook({"text": "hi", "thread": "t", "replyTo": "http://127.0.0.1:9/a"})
    assert generic.parse(Headers(headers), body, signer.config(), time.time()).event is not None


def test_generic_replies_go_nowhere_off_the_list_and_never_unsigned() -> None:
    """Whoever wrote the run's routing: no POST off the list, none without the reply secret."""
    allowed = ("https://hooks.example.com/baton",)
    channel = WebhookChannel("reply-secret", allowed)
    for url in (
        "https://evil.example/baton",
        "https://hooks.example.com/baton-x",
        "http://hooks.example.com/baton",
    ):
        with pytest.raises(PermanentError) as refused:
            channel.post({"replyTo": url, "thread": "t"}, "answer", "k")
        assert refused.value.reason == "ReplyToNotAllowed"
    with pytest.raises(PermanentError) as unsigned:
        WebhookChannel("", allowed).post({"replyTo": allowed[0] + "/t", "thread": "t"}, "a", "k")
    assert "BATON_WEBHOOK_REPLY_SECRET" in unsigned.value.message


# A Model's key goes only to its provider's host unless its namespace allows the baseURL.


def _model(base_url: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"provider": "anthropic", "model": "c", "apiKeySecretRef": {"name": "k"}}
    if base_url:
        spec["baseURL"] = base_url
    return {"kind": "Model", "metadata": {"name": "m", "namespace": "team-a"}, "spec": spec}


def _secrets(values: dict[tuple[str, str, str], str]) -> Any:
    def read(namespace: str, name: str, key: str) -> str:
        try:
            return values[(namespace, name, key)]
        except KeyError:
            raise PermanentError(f"Secret {namespace}/{name} key {key}: no such Secret") from None

    return read


def test_a_models_key_goes_only_to_its_provider_unless_the_namespace_allows() -> None:
    """baseURL elsewhere: refused naming baton-model-policy; allowed once the policy lists it."""
    key = {("team-a", "k", "api-key"): "sk-secret-value"}
    assert resolve_api_key(_model(None), _secrets(key)).value == "sk-secret-value"
    assert resolve_api_key(_model("https://api.anthropic.com/v1"), _secrets(key)).value
    with pytest.raises(PermanentError) as refused:
        resolve_api_key(_model("https://collector.evil.example"), _secrets(key))
    assert refused.value.reason == "BaseURLNotAllowed"
    assert POLICY_SECRET in refused.value.message and "sk-secret-value" not in refused.value.message
    policy_entry = {("team-a", POLICY_SECRET, POLICY_KEY): "https://llm.internal.example/v1"}
    allowed = _secrets({**key, **policy_entry})
    assert resolve_api_key(_model("https://llm.internal.example/v1/messages"), allowed).value
    with pytest.raises(PermanentError):
        resolve_api_key(_model("https://llm.internal.example/v2"), allowed)


# Finding 7: a stdio MCP server is refused where the process holds a Kubernetes token.


def test_stdio_mcp_servers_are_refused_when_disabled() -> None:
    """BATON_MCP_STDIO=off (the Knative call-tool): a stdio MCPServer is a readable refusal."""
    server = {
        "kind": "MCPServer",
        "metadata": {"name": "fs", "namespace": "team-a"},
        "spec": {"transport": "stdio", "command": "python3", "args": ["-c", "print(1)"]},
    }
    with pytest.raises(PermanentError) as refused:
        server_config(server, environ={"BATON_MCP_STDIO": "off"})
    assert refused.value.reason == "StdioDisabled" and "transport http" in refused.value.message
    assert server_config(server, environ={}).transport == "stdio"


# Finding 6: files that crashed `baton apply`.

BOMB = """apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: bomb}
spec:
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""
FILES = {
    "bomb": (BOMB, "expands to more than"),
    "self-alias": (
        "kind: Agent\napiVersion: baton.dev/v1alpha1\nmetadata: {name: x}\nspec: &a [*a]\n",
        "nests deeper",
    ),
    "metadata-string": (
        "kind: Agent\napiVersion: baton.dev/v1alpha1\nmetadata: foo\n",
        "metadata must be a mapping",
    ),
    "nameless": (
        "kind: Agent\napiVersion: baton.dev/v1alpha1\nspec: {}\n",
        "metadata.name is required",
    ),
    "traversal-name": (
        "kind: Agent\napiVersion: baton.dev/v1alpha1\nmetadata: {name: ../x}\n",
        "not a valid name",
    ),
    "deep": (
        "kind: Agent\napiVersion: baton.dev/v1alpha1\nspec: " + "[" * 5000 + "]" * 5000 + "\n",
        "nests deeper",
    ),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_hostile_file_is_refused_by_baton_apply(name: str, tmp_path: Path) -> None:
    """Exit code 2 with one line naming the problem: no crash, no traceback, nothing applied."""
    text, says = FILES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    db = tmp_path / "state.db"
    proc = subprocess.run(
        [BATON, "--db", str(db), "apply", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr
    assert SqliteStore(str(db)).list("Agent") == []


# `baton serve` off loopback needs a token, and then every POST / does.


def test_baton_serve_off_loopback_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    """--host 0.0.0.0 without BATON_INGRESS_TOKEN: exit 2 naming the variable (nothing bound)."""
    env = {"PATH": "/usr/bin:/bin", "BATON_INGRESS_TOKEN": ""}
    command = [BATON, "--db", str(tmp_path / "s.db"), "serve", "--host", "0.0.0.0"]
    command += ["--port", str(free_port())]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    assert "BATON_INGRESS_TOKEN" in proc.stderr


def test_with_an_ingress_token_every_event_needs_it(tmp_path: Path) -> None:
    """POST / without the bearer token: 401 before the body is read; with it: accepted."""
    from events import types
    from events.codecs.http import to_binary
    from events.envelope import make_event

    event = to_binary(make_event(types.TICK, "/tests", {}))
    with serve_function(
        "sweep", store=f"sqlite:///{tmp_path / 's.db'}", log_dir=tmp_path,
        env={"BATON_INGRESS_TOKEN": "t0ken"},
    ) as served:  # fmt: skip
        assert request(served.url, "POST", event.body, event.headers).status == 401
        wrong = {**event.headers, "authorization": "Bearer nope"}
        assert request(served.url, "POST", event.body, wrong).status == 401
        right = {**event.headers, "authorization": "Bearer t0ken"}
        assert request(served.url, "POST", event.body, right).status < 300
        assert request(served.url + "healthz").status == 200


def test_a_forged_discord_routing_cannot_steer_the_request(tmp_path: Path) -> None:
    """A run's routing names Discord path segments: dot segments and slashes are refused."""
    from functions.channels.discord import DiscordChannel

    channel = DiscordChannel("http://127.0.0.1:9/api/v10")
    for account, token in (("..", "x"), ("1", ".."), ("1/../../channels/5", "t"), ("1", "a/b")):
        routing = {"channel": "discord", "account": account, "replyTo": token, "thread": "c"}
        with pytest.raises(PermanentError) as refused:
            channel.post(routing, "hi", "k")
        assert refused.value.reason == "BadRouting"
