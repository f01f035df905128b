"""Property-based fuzzing of every parser of outside input: only baton's own errors escape.

Each parser gets ``BATON_FUZZ_EXAMPLES`` generated inputs per run (default 200): the HTTP and
NATS CloudEvents codecs, each webhook verifier and (behind a valid signature) each platform's
payload parser, resource validation against the CRDs, resource names, URL allow-lists, the
manifest YAML loader, and duration and time parsing. A parser may refuse an input with the
error it documents (``MalformedEvent``, ``SignatureError``, ``Invalid``, ``UnsafeYAML``;
``ValueError`` for the two value parsers); anything else escaping is a bug a sender could hit.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers

from events.codecs.bounded import loads
from events.codecs.http import from_http
from events.codecs.nats import NATSMessage, from_nats
from events.errors import MalformedEvent
from events.sources.chat import PARSERS
from events.sources.chat.signatures import (
    SignatureError,
    check_fresh,
    hmac_hex,
    sign_baton,
    verify_baton,
    verify_discord,
    verify_slack,
    verify_token,
)
from events.url_prefixes import url_allowed
from functions.cli.yaml_safety import UnsafeYAML, load_documents
from functions.kube.names import name_segment
from functions.ports import Invalid
from functions.resources.schema import validate_and_default
from functions.run.status import parse_duration, parse_time
from tests.chat.platforms import Signer

EXAMPLES = int(os.environ.get("BATON_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a shared 2-core machine: time is not what is being tested
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
SIGNER = Signer()
CONFIG = SIGNER.config()

# Header values as a server sees them: latin-1 text (werkzeug decodes bytes that way).
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)
CE_NAMES = ["ce-id", "ce-source", "ce-type", "ce-specversion", "ce-time", "ce-subject"]
HEADER_NAMES = [*CE_NAMES, "content-type", "ce-datacontenttype", "ce-dataschema", "ce-batonrun"]
SPECVERSIONS = st.sampled_from(["1.0", "0.3", "2.0", "", "1"])
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "text/plain",
        "application/json; charset=utf-8",
        "",
        "application/cloudevents+avro",
    ]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
nested = st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n)
bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | nested.map(str.encode)
    | st.builds(
        lambda attrs, data: json.dumps({**attrs, "data": data}).encode(),
        st.dictionaries(
            st.sampled_from(["specversion", "id", "source", "type", "time"]), header_text
        ),
        json_values,
    )
)


@st.composite
def ce_headers(draw: Any) -> dict[str, str]:
    headers = draw(st.dictionaries(st.sampled_from(HEADER_NAMES), header_text, max_size=8))
    if draw(st.booleans()):
        headers["ce-specversion"] = draw(SPECVERSIONS)
    if draw(st.booleans()):
        headers["content-type"] = draw(CONTENT_TYPES)
    return headers


@FUZZ
@given(ce_headers(), bodies)
def test_http_codec(headers: dict[str, str], body: bytes) -> None:
    """from_http: an event, or MalformedEvent."""
    with contextlib.suppress(MalformedEvent):
        from_http(headers, body)


@FUZZ
@given(ce_headers(), bodies)
def test_nats_codec(headers: dict[str, str], body: bytes) -> None:
    """from_nats: an event, or MalformedEvent."""
    with contextlib.suppress(MalformedEvent):
        from_nats(NATSMessage(headers=headers, data=body))


@FUZZ
@given(bodies)
def test_bounded_json(body: bytes) -> None:
    """The JSON every webhook and codec reads: a value, or MalformedEvent."""
    with contextlib.suppress(MalformedEvent):
        loads(body, "the body")


timestamps = header_text | st.integers().map(str) | st.just("9" * 400)


@FUZZ
@given(st.one_of(st.none(), timestamps), st.floats(allow_nan=False, allow_infinity=False))
def test_timestamp_check(timestamp: str | None, now: float) -> None:
    """check_fresh: an int, or SignatureError."""
    with contextlib.suppress(SignatureError):
        check_fresh(timestamp, now)


@FUZZ
@given(st.one_of(st.none(), header_text), st.one_of(st.none(), timestamps), st.binary(max_size=64))
def test_each_verifier(signature: str | None, timestamp: str | None, body: bytes) -> None:
    """Slack, generic, Telegram and Discord verification: silence, or SignatureError."""
    now = time.time()
    checks = [
        lambda: verify_slack("s", signature, timestamp, body, now),
        lambda: verify_baton("s", signature, body, now),
        lambda: verify_token("s", signature, "X-Token"),
        lambda: verify_discord(SIGNER.discord_public_hex, signature, timestamp, body, now),
    ]
    for check in checks:
        with contextlib.suppress(SignatureError):
            check()


def _signed(platform: str, body: bytes) -> dict[str, str]:
    """Valid signature headers for ``body``: the fuzzing reaches the payload parser."""
    stamp = str(int(time.time()))
    if platform == "slack":
        sig = "v0=" + hmac_hex(SIGNER.slack_secret, f"v0:{stamp}:".encode() + body)
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig}
    if platform == "discord":
        sig = SIGNER.discord_key.sign(stamp.encode() + body).hex()
        return {"X-Signature-Ed25519": sig, "X-Signature-Timestamp": stamp}
    if platform == "telegram":
        return {"X-Telegram-Bot-Api-Secret-Token": SIGNER.telegram_token}
    return {"X-Baton-Signature": sign_baton(SIGNER.webhook_secret, body, int(stamp))}


slack_like = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["event_callback", "url_verification", "x"]),
        "event": json_values
        | st.fixed_dictionaries(
            {
                "type": st.sampled_from(["app_mention", "message"]),
                "channel": json_values,
                "ts": json_values,
                "text": json_values,
            }
        ),
    }
)
discord_like = st.fixed_dictionaries(
    {
        "type": st.sampled_from([1, 2, 3, "2"]),
        "id": json_values,
        "token": json_values,
        "application_id": json_values,
        "channel_id": json_values,
        "data": json_values
        | st.fixed_dictionaries(
            {"name": json_values, "options": st.lists(json_values, max_size=3)}
        ),
    }
)
telegram_like = st.fixed_dictionaries(
    {
        "message": json_values
        | st.fixed_dictionaries(
            {
                "message_id": json_values,
                "chat": json_values,
                "text": json_values,
                "from": json_values,
            }
        )
    }
)
generic_like = st.dictionaries(
    st.sampled_from(["text", "thread", "replyTo", "agent", "id", "x"]), json_values, max_size=5
)
PAYLOADS = {
    "slack": slack_like,
    "discord": discord_like,
    "telegram": telegram_like,
    "webhook": generic_like,
}


def _fuzz_platform(platform: str, doc: Any, raw: bytes, use_raw: bool) -> None:
    body = raw if use_raw else json.dumps(doc).encode()
    headers = Headers(_signed(platform, body))
    with contextlib.suppress(MalformedEvent, SignatureError):
        PARSERS[platform](headers, body, CONFIG, time.time())


@FUZZ
@given(slack_like, bodies, st.booleans())
def test_slack_payload(doc: Any, raw: bytes, use_raw: bool) -> None:
    """A signed Slack request: an Inbound, or MalformedEvent."""
    _fuzz_platform("slack", doc, raw, use_raw)


@FUZZ
@given(discord_like, bodies, st.booleans())
def test_discord_payload(doc: Any, raw: bytes, use_raw: bool) -> None:
    """A signed Discord interaction: an Inbound, or MalformedEvent."""
    _fuzz_platform("discord", doc, raw, use_raw)


@FUZZ
@given(telegram_like, bodies, st.booleans())
def test_telegram_payload(doc: Any, raw: bytes, use_raw: bool) -> None:
    """A Telegram update with the right token: an Inbound, or MalformedEvent."""
    _fuzz_platform("telegram", doc, raw, use_raw)


@FUZZ
@given(generic_like, bodies, st.booleans())
def test_generic_payload(doc: Any, raw: bytes, use_raw: bool) -> None:
    """A signed generic webhook request: an Inbound, or MalformedEvent."""
    _fuzz_platform("webhook", doc, raw, use_raw)


SPEC_KEYS = st.sampled_from(
    ["agentRef", "modelRef", "task", "tools", "timeout", "mode", "overrides", "provider", "model",
     "transport", "url", "command", "env", "headers", "limits", "toolPolicy", "apiKeySecretRef",
     "routing", "parent", "x"]
)  # fmt: skip


@FUZZ
@given(
    st.sampled_from(["AgentRun", "Agent", "Model", "MCPServer", "Secret", 5]),
    json_values
    | st.dictionaries(st.sampled_from(["name", "namespace", "labels", "x"]), json_values),
    st.dictionaries(SPEC_KEYS, json_values, max_size=6),
    st.sampled_from([None, "status"]),
)
def test_resource_validation(kind: Any, metadata: Any, spec: Any, subresource: str | None) -> None:
    """validate_and_default: the defaulted resource, or Invalid."""
    obj = {"apiVersion": "baton.dev/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec}
    with contextlib.suppress(Invalid):
        validate_and_default(obj, subresource=subresource)


@FUZZ
@given(json_values | st.text(max_size=300))
def test_resource_names(value: Any) -> None:
    """name_segment: a path segment with no '/' and no dot segment, or Invalid."""
    try:
        segment = name_segment(value)
    except Invalid:
        return
    assert "/" not in segment and segment not in (".", "..")


@FUZZ
@given(st.text(max_size=80), st.lists(st.text(max_size=40), max_size=3))
def test_url_allow_lists(url: str, allowed: list[str]) -> None:
    """url_allowed: True or False, and True only for http(s)."""
    if url_allowed(url, allowed):
        assert url.startswith(("http://", "https://"))


yaml_texts = st.text(max_size=300) | st.builds(
    lambda n: "a: &a [x]\n" + "".join(f"l{i}: &l{i} [{',*'.join(['*a'] * 9)}]\n" for i in range(n)),
    st.integers(min_value=1, max_value=12),
)


@FUZZ
@given(yaml_texts)
def test_manifest_yaml(text: str) -> None:
    """load_documents: the documents, or UnsafeYAML."""
    with contextlib.suppress(UnsafeYAML):
        load_documents(text)


@FUZZ
@given(
    st.text(max_size=40) | st.from_regex(r"([0-9]{1,5}(\.[0-9]+)?(ms|s|m|h)){1,4}", fullmatch=True)
)
def test_duration_parsing(value: str) -> None:
    """parse_duration: seconds (never negative), or ValueError."""
    try:
        seconds = parse_duration(value)
    except ValueError:
        return
    assert seconds is None or seconds >= 0


@FUZZ
@given(st.text(max_size=40) | st.datetimes().map(lambda d: d.isoformat() + "Z"))
def test_time_parsing(value: str) -> None:
    """parse_time: seconds since the epoch, or ValueError."""
    with contextlib.suppress(ValueError):
        parse_time(value)
