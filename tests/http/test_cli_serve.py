"""``baton serve --function NAME``: one function on $PORT, named as its Knative Service is."""

from __future__ import annotations

import sys
from pathlib import Path

from events import types
from events.envelope import make_event
from tests.fixtures.http import post_event, request
from tests.http.conftest import Serve, World

BATON = str(Path(sys.executable).parent / "baton")


def test_serve_one_function_by_its_service_name(world: World, serve: Serve) -> None:
    """--function prepare-context serves prepare_context: healthy, and it refuses a tick."""
    server = serve(None, command=[BATON, "serve", "--function", "prepare-context"])
    assert request(server.url + "healthz").status == 200
    reply = post_event(server.url, make_event(types.TICK, "/tests", {}))
    assert reply.status == 400
    assert "prepare_context does not take dev.baton.tick" in reply.json()["message"]


def test_serve_answers_the_chain_over_http(world: World, serve: Serve) -> None:
    """baton serve --function validate accepts an added run and replies run.accepted."""
    world.setup([{"text": "5"}])
    server = serve(None, command=[BATON, "serve", "--function", "validate", "--threads", "4"])
    reply = post_event(server.url, world.added(world.new_run()))
    assert reply.status == 200
    assert reply.headers["ce-type"] == types.RUN_ACCEPTED
