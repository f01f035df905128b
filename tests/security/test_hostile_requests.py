"""Findings 2, 3 and 6 of issue 10 on real gunicorn: hostile bodies and senders get a 4xx.

Each of these gave a 5xx, a traceback, unbounded memory or a held thread before: a 50 MiB
chunked body read before the signature check, a 400-digit timestamp, JSON nested 100,000
levels, a malformed chunked body, and 32 half-sent requests holding every thread.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from urllib.parse import urlsplit

import pytest

from events import types
from events.codecs.http import to_binary, to_structured
from events.envelope import make_event
from tests.chat.platforms import slack_mention
from tests.fixtures.http import request
from tests.security.servers import READ_DEADLINE, Servers, raw_exchange

PLATFORM_PATHS = ("slack", "discord", "telegram", "webhook")
DEEP = b"[" * 100_000 + b"]" * 100_000


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return str(parts.hostname), int(parts.port or 80)


def _stream_chunked(url: str, path: str, total: int) -> tuple[int, int]:
    """Send a chunked body of up to ``total`` bytes; (status, bytes sent when it answered)."""
    piece = b"x" * 65536
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    head = (
        f"POST /{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    sent = 0
    with socket.create_connection(_address(url), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except OSError:
                break
            sent += len(piece)
        sock.settimeout(10)
        with contextlib.suppress(OSError):
            answer = sock.recv(65536)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, sent


@pytest.mark.parametrize("path", PLATFORM_PATHS)
def test_a_huge_chunked_body_is_refused_before_it_is_read(servers: Servers, path: str) -> None:
    """50 MiB chunked to a webhook: 413 after about the limit (1 MiB), not after 50 MiB."""
    status, sent = _stream_chunked(servers.webhook, path, 50 << 20)
    assert status == 413
    assert sent < 8 << 20, f"the server read {sent} bytes before answering"


@pytest.mark.parametrize("platform", ["slack", "discord", "webhook"])
def test_a_400_digit_timestamp_is_401_not_500(servers: Servers, platform: str) -> None:
    """A timestamp no clock can hold is an unauthenticated 401 with a JSON reason."""
    signer = servers.signer
    if platform == "slack":
        body, headers = signer.slack(slack_mention())
        headers["x-slack-request-timestamp"] = "9" * 400
    elif platform == "discord":
        body, headers = signer.discord({"type": 1})
        headers["x-signature-timestamp"] = "9" * 400
    else:
        body, headers = signer.webhook({"text": "hi", "thread": "t"})
        headers["x-baton-signature"] = "t=" + "9" * 400 + ",v1=00"
    reply = request(servers.webhook + platform, "POST", body, headers)
    assert reply.status == 401
    assert "timestamp" in reply.json()["message"]
    assert "Traceback" not in reply.body.decode()


def test_deeply_nested_json_is_400_everywhere(servers: Servers) -> None:
    """JSON nested 100,000 levels: 400 from the function (both modes) and from a webhook."""
    event = make_event(types.RUN_REQUESTED, "/tests", {"agent": "helper", "task": "x"})
    binary = to_binary(event)
    reply = request(servers.route, "POST", DEEP, binary.headers)
    assert reply.status == 400 and "nests deeper" in reply.json()["message"]
    structured = to_structured(event)
    body = structured.body.replace(
        b'"data":', b'"data":' + b"[" * 5000 + b"1" + b"]" * 5000 + b',"x":', 1
    )
    reply = request(servers.route, "POST", body, structured.headers)
    assert reply.status == 400, reply.body
    _, headers = servers.signer.webhook({"text": "hi", "thread": "t"})
    deep_body = b'{"text": "hi", "thread": "t", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    from events.sources.chat.signatures import sign_baton

    headers["x-baton-signature"] = sign_baton(
        servers.signer.webhook_secret, deep_body, int(time.time())
    )
    reply = request(servers.webhook + "webhook", "POST", deep_body, headers)
    assert reply.status == 400 and "nests deeper" in reply.json()["message"]
    assert servers.runs() == []


@pytest.mark.parametrize(
    "chunks",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",  # not a hex size
        b"5\r\nhelloXX0\r\n\r\n",  # no CRLF after the data
        b"-1\r\nx\r\n0\r\n\r\n",  # a negative size
        b"5;" + b"e" * 100_000 + b"\r\nhello\r\n0\r\n\r\n",  # an endless chunk extension
    ],
)
def test_a_malformed_chunked_body_is_400(servers: Servers, chunks: bytes) -> None:
    """A chunked body that breaks the encoding: 400 (Knative does not retry it), never 500."""
    for url in (servers.route, servers.webhook + "webhook"):
        path = "/" + url.split("/", 3)[3]
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "ce-id: 1\r\nce-source: /t\r\nce-type: dev.baton.run.requested\r\n"
            "ce-specversion: 1.0\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ).encode()
        status, body, _ = raw_exchange(url, head + chunks)
        assert status == 400, (url, status, body)
    assert servers.runs() == []


def test_half_sent_requests_cannot_hold_every_thread(servers: Servers) -> None:
    """More half-sent requests than threads: health checks still answer; the senders are cut
    off at the read deadline."""
    held = []
    host, port = _address(servers.route)
    for _ in range(32):
        sock = socket.create_connection((host, port), timeout=30)
        sock.sendall(b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a":')
        held.append(sock)
    try:
        started = time.monotonic()
        deadline = started + 5 * READ_DEADLINE
        answered = False
        while time.monotonic() < deadline and not answered:
            try:
                answered = request(servers.route + "healthz").status == 200
            except OSError:
                time.sleep(0.1)
        assert answered, "health checks time out while half-sent requests hold the threads"
        # Each held connection was cut off (408 or closed) once the deadline passed.
        held[0].settimeout(3 * READ_DEADLINE)
        answer = held[0].recv(4096)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
    finally:
        for sock in held:
            sock.close()


def test_a_slow_header_sender_is_cut_off(servers: Servers) -> None:
    """Headers that never end: the connection is closed at the read deadline."""
    host, port = _address(servers.webhook)
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(b"POST /slack HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        sock.settimeout(5 * READ_DEADLINE)
        answer = sock.recv(4096)  # raises TimeoutError if the server keeps waiting
        elapsed = time.monotonic() - started
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
    assert elapsed < 4 * READ_DEADLINE


def test_an_unparseable_json_body_to_the_function_names_the_problem(servers: Servers) -> None:
    """Not JSON at all: 400 saying so, and nothing written."""
    event = make_event(types.RUN_REQUESTED, "/tests", {"agent": "helper", "task": "x"})
    reply = request(servers.route, "POST", b"{not json", to_binary(event).headers)
    assert reply.status == 400 and "not JSON" in reply.json()["message"]
    assert json.loads(reply.body)["reason"] == "MalformedEvent"
