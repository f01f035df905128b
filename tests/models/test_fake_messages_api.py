"""The fake Messages API itself: concurrency, holding replies, callables, request records."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.fakes.messages_api import FakeMessagesAPI, Fault, RecordedRequest, Reply

BODY = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def post(api: FakeMessagesAPI, body: dict[str, Any] = BODY) -> tuple[int, dict[str, Any]]:
    """One raw POST /v1/messages; status and JSON reply."""
    port = int(api.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/v1/messages", json.dumps(body), {"content-type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_requests_are_served_concurrently() -> None:
    """200 requests are all in the server at once while replies are held (no serialization)."""
    with FakeMessagesAPI(default=Reply.text("ok")) as api, ThreadPoolExecutor(200) as pool:
        api.hold()
        futures = [pool.submit(post, api) for _ in range(200)]
        assert len(api.wait_for_requests(200, timeout=60)) == 200
        assert not any(f.done() for f in futures)
        api.release()
        assert {f.result()[0] for f in futures} == {200}


def test_callable_builds_reply_from_request() -> None:
    """A scripted callable sees the request and decides the reply."""

    def echo(request: RecordedRequest) -> Reply:
        return Reply.text(request.body["messages"][0]["content"].upper())

    with FakeMessagesAPI() as api:
        api.enqueue(echo)
        status, message = post(api)
    assert status == 200
    assert message["content"] == [{"type": "text", "text": "HI"}]
    assert message["model"] == "m"


def test_error_shape_and_headers() -> None:
    """Faults answer in Anthropic's error JSON with the scripted headers."""
    with FakeMessagesAPI() as api:
        api.enqueue(Fault.status_code(529, "Overloaded"))
        status, body = post(api)
    assert status == 529
    assert body["type"] == "error"
    assert body["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_empty_script_says_so() -> None:
    """With nothing scripted the server answers 400 naming the problem (no silent retries)."""
    with FakeMessagesAPI() as api:
        status, body = post(api)
    assert status == 400
    assert "no scripted reply left" in body["error"]["message"]


def test_requests_recorded_with_headers_and_body() -> None:
    """Every request is kept with lower-case header names and the parsed body."""
    with FakeMessagesAPI(default=Reply.text("ok")) as api:
        post(api)
        post(api, BODY | {"max_tokens": 20})
    assert [r.body["max_tokens"] for r in api.requests] == [10, 20]
    assert api.requests[0].headers["content-type"] == "application/json"
    assert api.requests[0].path == "/v1/messages"
