"""MCP tools over streamable HTTP: the real mcp client against the test server on loopback."""

from __future__ import annotations

import json
import logging
import socket

import pytest

from events.errors import PermanentError, TransientError
from functions.ports import ToolCall
from tests.fakes.mcp_servers import HTTPServer, calls
from tests.tools.conftest import mcp_server

SECRET = "hdr-5ecret-never-shown"


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_lists_every_tool_when_allow_is_unset(store, http_server, tools):
    """No spec.tools.allow: the model sees all the server's tools."""
    mcp_server(store, "web", {"transport": "http", "url": http_server.url})
    names = [s.name for s in tools.specs("default", "web")]
    assert names[:3] == ["add", "put_note", "get_note"]
    assert {"fail", "slow", "whoami", "structured"} <= set(names)


def test_a_call_over_http_carries_the_idempotency_key(store, http_server, tools):
    """Result text back, key recorded by the server once."""
    mcp_server(store, "web", {"transport": "http", "url": http_server.url})
    result = tools.call("default", "web", ToolCall("t1", "add", {"a": 20, "b": 22}), "uid/1/t1")
    assert (result.content, result.is_error) == ("42", False)
    assert [c["idempotencyKey"] for c in calls(http_server.state_dir)] == ["uid/1/t1"]


def test_a_tool_error_over_http_is_an_error_result(store, http_server, tools):
    """isError -> is_error=True with the message."""
    mcp_server(store, "web", {"transport": "http", "url": http_server.url})
    result = tools.call("default", "web", ToolCall("t", "fail", {"message": "quota"}), "k")
    assert result.is_error
    assert "quota" in result.content


def test_a_header_from_a_secret_reaches_the_server(store, http_server, make_tools):
    """headers valueFrom.secretKeyRef are resolved and sent with every request."""
    header = {"name": "X-Api-Token", "valueFrom": {"secretKeyRef": {"name": "web", "key": "token"}}}
    mcp_server(store, "web", {"transport": "http", "url": http_server.url, "headers": [header]})
    tools = make_tools(secrets=lambda namespace, name, key: SECRET)
    result = tools.call(
        "default", "web", ToolCall("t", "whoami", {"env": "NONE", "header": "x-api-token"}), "k"
    )
    assert json.loads(result.content)["header"] == SECRET


def test_embedded_secret_fallback_reads_the_documented_env_var(store, http_server, make_tools):
    """Without a resolver the header comes from BATON_SECRET_<NAME>_<KEY>."""
    header = {
        "name": "X-Api-Token",
        "valueFrom": {"secretKeyRef": {"name": "web-mcp", "key": "tok"}},
    }
    mcp_server(store, "web", {"transport": "http", "url": http_server.url, "headers": [header]})
    tools = make_tools(environ={"BATON_SECRET_WEB_MCP_TOK": SECRET})
    result = tools.call(
        "default", "web", ToolCall("t", "whoami", {"env": "NONE", "header": "x-api-token"}), "k"
    )
    assert json.loads(result.content)["header"] == SECRET


def test_a_slow_tool_over_http_times_out_as_transient(store, http_server, tools):
    """timeoutSeconds bounds the call -> TransientError naming the server."""
    mcp_server(store, "web", {"transport": "http", "url": http_server.url, "timeoutSeconds": 1})
    with pytest.raises(TransientError) as caught:
        tools.call("default", "web", ToolCall("t", "slow", {"seconds": 30}), "k")
    assert caught.value.reason == "MCPTimeout"
    assert "MCPServer default/web" in str(caught.value)


def test_an_unreachable_server_is_transient_and_named(store, tools):
    """Nothing listening on the URL -> TransientError naming the MCPServer."""
    url = f"http://127.0.0.1:{_unused_port()}/mcp"
    mcp_server(store, "gone", {"transport": "http", "url": url})
    with pytest.raises(TransientError) as caught:
        tools.specs("default", "gone")
    assert caught.value.reason == "MCPServerUnavailable"
    assert "MCPServer default/gone" in str(caught.value)
    with pytest.raises(TransientError):
        tools.call("default", "gone", ToolCall("t", "add", {"a": 1, "b": 1}), "k")


def test_a_wrong_path_is_permanent(store, http_server, tools):
    """A URL that answers 404 to initialize is not an MCP endpoint: PermanentError."""
    url = http_server.url.replace("/mcp", "/nope")
    mcp_server(store, "typo", {"transport": "http", "url": url})
    with pytest.raises(PermanentError) as caught:
        tools.specs("default", "typo")
    assert "MCPServer default/typo" in str(caught.value)


def test_reconnects_after_the_server_restarts(store, state_dir, tools):
    """Server down -> TransientError; back on the same port -> the next call succeeds."""
    first = HTTPServer(state_dir)
    with first:
        mcp_server(store, "web", {"transport": "http", "url": first.url})
        assert (
            tools.call("default", "web", ToolCall("a", "add", {"a": 1, "b": 1}), "k1").content
            == "2"
        )
    with pytest.raises(TransientError):
        tools.call("default", "web", ToolCall("b", "add", {"a": 1, "b": 2}), "k2")
    second = HTTPServer(state_dir)
    second.port, second.url = first.port, first.url
    with second:
        assert (
            tools.call("default", "web", ToolCall("c", "add", {"a": 2, "b": 2}), "k3").content
            == "4"
        )
    assert [c["idempotencyKey"] for c in calls(state_dir)] == ["k1", "k3"]


def test_a_secret_header_never_reaches_errors_or_logs(store, make_tools, caplog):
    """Unreachable server with a Secret header: the error and every log line omit the value."""
    caplog.set_level(logging.DEBUG)
    header = {"name": "Authorization", "valueFrom": {"secretKeyRef": {"name": "web", "key": "t"}}}
    url = f"http://127.0.0.1:{_unused_port()}/mcp"
    mcp_server(store, "gone", {"transport": "http", "url": url, "headers": [header]})
    tools = make_tools(secrets=lambda namespace, name, key: SECRET)
    with pytest.raises(TransientError) as caught:
        tools.call("default", "gone", ToolCall("t", "add", {"a": 1, "b": 1}), "k")
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.__cause__)
    assert caplog.records  # the client did log, just never the value
    assert SECRET not in caplog.text
