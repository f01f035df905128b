"""What a served function accepts: binary and structured CloudEvents; everything else is a 400
with a JSON error naming the problem, and nothing is written to the store."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from events import types
from events.envelope import make_event
from tests.fixtures.http import post_event, request, serve_function
from tests.http.conftest import Serve, World

REQUEST = {"agent": "helper", "task": "add 2 and 3"}
BINARY = {
    "ce-specversion": "1.0",
    "ce-id": "req-1",
    "ce-source": "/tests",
    "ce-type": types.RUN_REQUESTED,
    "content-type": "application/json",
}


def without(name: str) -> dict[str, str]:
    """The binary headers less one."""
    return {k: v for k, v in BINARY.items() if k != name}


BODY = json.dumps(REQUEST).encode()
STRUCTURED = {"content-type": "application/cloudevents+json"}
NO_ID = {"specversion": "1.0", "source": "/t", "type": types.RUN_REQUESTED, "data": REQUEST}

# case: (headers, body, what the error message must name)
BAD_REQUESTS = {
    "malformed JSON": (BINARY, b'{"agent": "helper", "task": ', "body is not JSON"),
    "wrong content type": ({**BINARY, "content-type": "text/plain"}, b"add", "text/plain"),
    "missing ce-id": (without("ce-id"), BODY, "ce-id"),
    "missing ce-type": (without("ce-type"), BODY, "ce-type"),
    "missing ce-source": (without("ce-source"), BODY, "ce-source"),
    "missing ce-specversion": (without("ce-specversion"), BODY, "ce-specversion"),
    "unknown specversion": ({**BINARY, "ce-specversion": "9.9"}, BODY, "9.9"),
    "unknown type": ({**BINARY, "ce-type": "com.example.x"}, BODY, "com.example.x"),
    "data off-schema": (BINARY, b'{"agent": "helper"}', "'task' is a required property"),
    "data not an object": (BINARY, b'"add 2 and 3"', "is not of type 'object'"),
    "bad agent name": (BINARY, b'{"agent": "No_Name", "task": "t"}', "data.agent"),
    "not a CloudEvent": ({"content-type": "application/json"}, BODY, "not a CloudEvent"),
    "structured, not JSON": (STRUCTURED, b"<xml/>", "not a JSON object"),
    "structured, no id": (STRUCTURED, json.dumps(NO_ID).encode(), "attribute missing: id"),
    "batch": ({"content-type": "application/cloudevents-batch+json"}, b"[]", "batched"),
    "bad ce-time": ({**BINARY, "ce-time": "yesterday"}, BODY, "ce-time"),
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str]]:
    """One store and one route server for the requests that must write nothing."""
    folder = tmp_path_factory.mktemp("shared")
    world = World(folder / "state.db")
    world.setup([{"text": "5"}])
    with serve_function("route", store=world.url, log_dir=folder) as served:
        yield world, served.url


@pytest.fixture
def route(world: World, serve: Serve) -> str:
    """The route function (it creates an AgentRun from every good request) under gunicorn."""
    world.setup([{"text": "5"}])
    return serve("route").url


def test_binary_request_creates_one_run(route: str, world: World) -> None:
    """A binary-mode run.requested is answered 202 and creates the AgentRun."""
    reply = request(route, "POST", json.dumps(REQUEST).encode(), BINARY)
    assert reply.status == 202, reply.body
    assert reply.body == b""
    (run,) = world.runs()
    assert run["spec"]["task"] == "add 2 and 3"


def test_structured_request_creates_one_run(route: str, world: World) -> None:
    """A structured-mode run.requested creates the AgentRun just the same."""
    event = make_event(types.RUN_REQUESTED, "/tests", REQUEST, id_="req-s")
    reply = post_event(route, event, structured=True)
    assert reply.status == 202, reply.body
    assert [r["spec"]["agentRef"]["name"] for r in world.runs()] == ["helper"]


def test_resent_request_converges_on_one_run(route: str, world: World) -> None:
    """The same request twice (same source and id) leaves one run."""
    for _ in range(2):
        assert request(route, "POST", json.dumps(REQUEST).encode(), BINARY).status == 202
    assert len(world.runs()) == 1


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_is_400_naming_the_problem_and_writes_nothing(
    case: str, shared: tuple[World, str]
) -> None:
    """Malformed, mistyped, incomplete or off-schema requests get 400 and a JSON reason."""
    world, route = shared
    headers, body, named = BAD_REQUESTS[case]
    before = world.store.list("AgentRun"), world.store.list("Agent"), world.store.list("Model")
    reply = request(route, "POST", body, headers)
    assert reply.status == 400, reply.body
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()
    assert error["error"] == "MalformedEvent"
    assert named in error["message"]
    after = world.store.list("AgentRun"), world.store.list("Agent"), world.store.list("Model")
    assert after == before
    assert world.runs() == []


def test_oversized_body_is_413(world: World, serve: Serve) -> None:
    """A body over the limit is refused before it is parsed; nothing is written."""
    world.setup([{"text": "5"}])
    url = serve("route", env={"BATON_MAX_BODY": "4096"}).url
    body = json.dumps({**REQUEST, "task": "x" * 5000}).encode()
    reply = request(url, "POST", body, BINARY)
    assert reply.status == 413
    assert "exceeds the limit of 4096" in reply.json()["message"]
    assert world.runs() == []


def test_default_limit_is_one_mebibyte(route: str, world: World) -> None:
    """Without BATON_MAX_BODY, a 1.1 MiB body is refused."""
    body = json.dumps({**REQUEST, "task": "x" * (1100 * 1024)}).encode()
    reply = request(route, "POST", body, BINARY)
    assert reply.status == 413
    assert "exceeds the limit of 1048576" in reply.json()["message"]
    assert world.runs() == []


def test_misrouted_event_is_400_naming_what_the_function_takes(route: str, world: World) -> None:
    """An event type the function has no Trigger for is a misrouting: 400 says what it takes."""
    event = make_event(types.TICK, "/tests", {})
    reply = post_event(route, event)
    assert reply.status == 400
    message = reply.json()["message"]
    assert "route does not take dev.baton.tick" in message
    assert types.RUN_REQUESTED in message


def test_health_endpoints(route: str) -> None:
    """/healthz answers while the process lives; /readyz when the store answers."""
    assert request(route + "healthz").json() == {"status": "ok"}
    assert request(route + "readyz").json() == {"status": "ready"}
    missing = request(route + "nope")
    assert missing.status == 404
    assert missing.json()["error"] == "NotFound"


def test_readyz_is_503_when_the_store_is_unreachable(world: World, serve: Serve, tmp_path) -> None:
    """A function whose Kubernetes API server does not answer is live but not ready."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    url = serve("validate", env={"BATON_STORE": f"kubernetes://{kubeconfig}"}).url
    assert request(url + "healthz").status == 200
    reply = request(url + "readyz")
    assert reply.status == 503
    assert "store not reachable" in reply.json()["message"]


def test_oversized_chunked_body_is_413(world: World, serve: Serve) -> None:
    """A body with no Content-Length (chunked) is cut off at the limit just the same."""
    import http.client

    world.setup([{"text": "5"}])
    url = serve("route", env={"BATON_MAX_BODY": "4096"}).url
    port = int(url.rsplit(":", 1)[1].strip("/"))
    chunks = [
        json.dumps({**REQUEST, "task": "x" * 5000}).encode()[i : i + 1000]
        for i in range(0, 6000, 1000)
    ]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/", body=iter(chunks), headers=BINARY, encode_chunked=True)
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 413
    assert "exceeds the limit of 4096" in body["message"]
    assert world.runs() == []
