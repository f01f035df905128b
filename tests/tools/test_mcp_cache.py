"""Tool listings are cached per (namespace, server, resourceVersion) for a TTL."""

from __future__ import annotations

import pytest

from events.errors import TransientError
from tests.fakes.mcp_servers import HTTPServer
from tests.tools.conftest import mcp_server


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_cached_listing_is_served_while_the_server_is_down(store, state_dir, make_tools):
    """Within the TTL no request reaches the server; after it, the listing is fetched again."""
    clock = Ticker()
    tools = make_tools(environ={}, ttl=60, clock=clock)
    with HTTPServer(state_dir) as server:
        mcp_server(
            store, "web", {"transport": "http", "url": server.url, "tools": {"allow": ["add"]}}
        )
        assert [s.name for s in tools.specs("default", "web")] == ["add"]
    clock.t += 59
    assert [s.name for s in tools.specs("default", "web")] == ["add"]
    clock.t += 2
    with pytest.raises(TransientError):
        tools.specs("default", "web")


def test_an_edited_server_is_listed_again_at_once(store, http_server, make_tools):
    """A new resourceVersion (allow changed) takes effect without waiting for the TTL."""
    tools = make_tools(environ={}, ttl=3600, clock=Ticker())
    created = mcp_server(
        store, "web", {"transport": "http", "url": http_server.url, "tools": {"allow": ["add"]}}
    )
    assert [s.name for s in tools.specs("default", "web")] == ["add"]
    created["spec"]["tools"]["allow"] = ["*_note"]
    store.update(created)
    assert [s.name for s in tools.specs("default", "web")] == ["put_note", "get_note"]
