"""The bad-input corpus: every case gets its expected answer, never a 5xx, a hang or a write.

tests/corpus holds the cases as data: CloudEvents over HTTP (the route function under
gunicorn) and over NATS (the codec every worker decodes with), each chat platform (the
webhook under gunicorn), resource specs (the store's CRD validation) and CLI invocations.
An HTTP answer must be the 4xx the case names, with a JSON body whose message contains
what it names, within 5 s; nothing may be written to the store or published.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from events.codecs.nats import NATSMessage, from_nats
from events.errors import MalformedEvent
from functions.ports import Invalid
from functions.resources.sqlite import SqliteStore
from tests.fixtures.http import request
from tests.security.corpus import cases, expand, expand_bytes
from tests.security.servers import Servers

HTTP = cases("http_cloudevents")
NATS = cases("nats_cloudevents")
CHAT = cases("chat")
RESOURCES = cases("resources")
CLI = cases("cli")
BATON = str(Path(sys.executable).parent / "baton")
HANG = 5.0


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in items]


def test_the_corpus_has_at_least_150_cases() -> None:
    """The corpus is the issue's floor or more, and every case names its expected answer."""
    everything = HTTP + NATS + CHAT + RESOURCES + CLI
    assert len(everything) >= 150
    assert all("expect" in c for c in everything)


def _answered(reply: Any, elapsed: float, expect: dict[str, Any]) -> None:
    assert elapsed < HANG, f"answered after {elapsed:.1f} s"
    assert reply.status == expect["status"], reply.body[:300]
    doc = json.loads(reply.body)
    assert doc["reason"] and doc["message"]
    assert expect["says"] in doc["message"], doc["message"]
    assert "Traceback" not in doc["message"]


@pytest.mark.parametrize("case", HTTP, ids=_ids(HTTP))
def test_http_cloudevent(servers: Servers, case: dict[str, Any]) -> None:
    """A bad CloudEvent to a function: the 4xx naming the problem; no run created."""
    body = expand_bytes(case["body"])
    headers = expand(case["headers"])
    started = time.monotonic()
    reply = request(servers.route, "POST", body, headers)
    _answered(reply, time.monotonic() - started, case["expect"])
    assert servers.runs() == []


@pytest.mark.parametrize("case", NATS, ids=_ids(NATS))
def test_nats_cloudevent(case: dict[str, Any]) -> None:
    """A bad NATS message: MalformedEvent naming the problem (the worker terms it)."""
    message = NATSMessage(headers=expand(case["headers"]), data=expand_bytes(case["data"]))
    with pytest.raises(MalformedEvent) as refused:
        from_nats(message)
    assert case["expect"]["says"] in refused.value.message


def _signed(servers: Servers, case: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The request body and headers for a chat case, signed as ``case["sign"]`` says."""
    from events.sources.chat.signatures import hmac_hex, sign_baton

    signer, platform, sign = servers.signer, case["platform"], case["sign"]
    body = expand_bytes(case["raw"]) if "raw" in case else json.dumps(expand(case["body"])).encode()
    now = int(time.time())
    stamp = {
        "stale": str(now - 3600),
        "huge-ts": "9" * 400,
        "unicode-ts": "\u0661\u0667" + "\u0660" * 8,  # Arabic-Indic digits: int() takes them
        "negative-ts": "-5",
    }.get(sign, str(now))
    headers = {"content-type": "application/json"}
    if sign == "none":
        return body, headers
    wrong = sign == "wrong"
    if platform == "slack":
        secret = "wrong" if wrong else signer.slack_secret
        sig = "v0=" + hmac_hex(secret, f"v0:{stamp}:".encode() + body)
        if sign == "long-sig":
            sig = "v0=" + "a" * 6000
        headers |= {"x-slack-request-timestamp": stamp, "x-slack-signature": sig}
    elif platform == "discord":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate() if wrong else signer.discord_key
        sig = key.sign(stamp.encode() + body).hex()
        if sign == "nonhex-sig":
            sig = "zz" * 64
        headers |= {"x-signature-ed25519": sig, "x-signature-timestamp": stamp}
    elif platform == "telegram":
        token = "wrong" if wrong else signer.telegram_token
        headers["x-telegram-bot-api-secret-token"] = token
    else:
        secret = "wrong" if wrong else signer.webhook_secret
        value = sign_baton(secret, body, now).replace(f"t={now}", f"t={stamp}", 1)
        if stamp != str(now):  # sign what is sent, so only the timestamp is wrong
            value = f"t={stamp},v1={hmac_hex(secret, stamp.encode() + b'.' + body)}"
        if sign == "no-v1":
            value = f"t={now}"
        if sign == "long-sig":
            value = f"t={now}," + "v1=aa," * 1000
        headers["x-baton-signature"] = value
    if sign == "unicode-ts":  # sent as UTF-8 bytes, as a hostile client can
        headers = {k: v if v.isascii() else v.encode() for k, v in headers.items()}
    return body, headers | expand(case.get("headers") or {})


@pytest.mark.parametrize("case", CHAT, ids=[f"{c['platform']}: {c['name']}" for c in CHAT])
def test_chat_request(servers: Servers, case: dict[str, Any]) -> None:
    """A bad chat request: 401 or 400 naming the problem; nothing published."""
    body, headers = _signed(servers, case)
    published = len(servers.sink.events)
    started = time.monotonic()
    reply = request(servers.webhook + case["platform"], "POST", body, headers)
    _answered(reply, time.monotonic() - started, case["expect"])
    assert len(servers.sink.events) == published


@pytest.mark.parametrize("case", RESOURCES, ids=_ids(RESOURCES))
def test_resource(case: dict[str, Any], tmp_path: Path) -> None:
    """A bad resource: Invalid naming the field; the store holds nothing afterwards."""
    store = SqliteStore(str(tmp_path / "s.db"))
    doc = expand(case["resource"])
    with pytest.raises(Invalid) as refused:
        store.create(doc)
    assert case["expect"]["field"] in (refused.value.field + " " + str(refused.value))
    for kind in ("AgentRun", "Agent", "Model", "MCPServer"):
        assert store.list(kind) == []


@pytest.mark.parametrize("case", CLI, ids=_ids(CLI))
def test_cli(case: dict[str, Any], tmp_path: Path) -> None:
    """A bad CLI invocation: its exit code and one line naming the problem, no traceback."""
    path = tmp_path / "input.yaml"
    if "file" in case:
        path.write_text(case["file"])
    argv = [a.replace("{file}", str(path)) for a in case["argv"]]
    db = tmp_path / "state.db"
    proc = subprocess.run(
        [BATON, "--db", str(db), *argv], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == case["expect"]["exit"], proc.stderr
    assert case["expect"]["says"] in proc.stderr
    assert "Traceback" not in proc.stderr
    if db.exists():
        assert SqliteStore(str(db)).list("Agent") == []
