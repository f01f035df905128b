"""The HTTP sink poster: binary events out, the sink's answer mapped to the error taxonomy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from events import types
from events.buses.http import HTTPSink
from events.envelope import CloudEvent, make_event
from events.errors import PermanentError, TransientError
from tests.fixtures.http import EventSink, free_port


def event(n: int = 1) -> CloudEvent:
    """A run.requested with id ``e<n>``."""
    return make_event(types.RUN_REQUESTED, "/tests", {"agent": "a", "task": "t"}, id_=f"e{n}")


@pytest.fixture
def answering() -> Iterator[Callable[..., str]]:
    """A server answering every POST with a given status and headers: ``answering(429, {...})``."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, headers: dict[str, str] | None = None) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                body = b'{"error": "nope"}'
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_events_arrive_in_binary_mode_in_order() -> None:
    """Three events over one kept-alive connection arrive intact and in order."""
    with EventSink() as sink:
        poster = HTTPSink(sink.url)
        poster.publish_all([event(1), event(2), event(3)])
        got = sink.wait_for(3)
    assert [e.get_id() for e in got] == ["e1", "e2", "e3"]
    assert got[0].get_data() == {"agent": "a", "task": "t"}
    assert got[0].get_datacontenttype() == "application/json"


def test_429_with_retry_after_is_transient_with_that_delay(answering: Callable[..., str]) -> None:
    """429 Retry-After: 7 -> TransientError(delay=7)."""
    with pytest.raises(TransientError) as caught:
        HTTPSink(answering(429, {"Retry-After": "7"})).publish(event())
    assert caught.value.delay == 7
    assert "HTTP 429" in caught.value.message


def test_5xx_is_transient(answering: Callable[..., str]) -> None:
    """502 from a broker is worth retrying."""
    with pytest.raises(TransientError, match="HTTP 502"):
        HTTPSink(answering(502)).publish(event())


def test_4xx_is_permanent_and_shows_the_body(answering: Callable[..., str]) -> None:
    """400 will not change on retry: PermanentError with the sink's words."""
    with pytest.raises(PermanentError, match=r'HTTP 400: \{"error": "nope"\}'):
        HTTPSink(answering(400)).publish(event())


def test_nobody_listening_is_transient() -> None:
    """A sink that is down (connection refused) is transient."""
    with pytest.raises(TransientError, match="refused") as caught:
        HTTPSink(f"http://127.0.0.1:{free_port()}/", timeout=2).publish(event())
    assert caught.value.reason == "SinkUnreachable"


def test_bad_url_is_refused_up_front() -> None:
    """K_SINK must be an http(s) URL."""
    with pytest.raises(ValueError, match="sink URL"):
        HTTPSink("broker-ingress:8080")
