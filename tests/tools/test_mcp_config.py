"""MCPServer configs that cannot work fail permanently, name the server, and hide secrets."""

from __future__ import annotations

import sys

import pytest

from events.errors import PermanentError
from functions.ports import NotFound, ToolCall
from functions.tools.mcp_config import server_config
from tests.tools.conftest import mcp_server

SECRET = "sk-mcp-5ecret-do-not-leak"


def _resource(spec, name="srv"):
    return {"kind": "MCPServer", "metadata": {"name": name, "namespace": "team-a"}, "spec": spec}


def _secret_ref(name="creds", key="token"):
    return {"secretKeyRef": {"name": name, "key": key}}


def test_an_unknown_server_is_permanent_and_named(tools):
    """An Agent naming an MCPServer that does not exist -> PermanentError naming it."""
    with pytest.raises(PermanentError) as caught:
        tools.specs("default", "missing")
    assert caught.value.reason == "MCPServerNotFound"
    assert "MCPServer default/missing" in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"transport": "stdio"}, "needs spec.command"),
        ({"transport": "http"}, "needs an http(s) spec.url"),
        ({"transport": "http", "url": "ftp://example.com"}, "needs an http(s) spec.url"),
        ({"transport": "http", "url": "http://h", "headers": [{"name": "A"}]}, "needs value"),
    ],
)
def test_an_incomplete_spec_is_permanent_and_named(spec, words):
    """Missing command/url, a header without value -> PermanentError naming the MCPServer."""
    with pytest.raises(PermanentError) as caught:
        server_config(_resource(spec))
    assert caught.value.reason == "InvalidMCPServer"
    assert "MCPServer team-a/srv" in str(caught.value)
    assert words in str(caught.value)


def test_a_command_that_does_not_exist_is_permanent(store, tools):
    """stdio command not found -> PermanentError naming the server and the command."""
    mcp_server(store, "ghost", {"transport": "stdio", "command": "/nonexistent/mcp-server"})
    with pytest.raises(PermanentError) as caught:
        tools.call("default", "ghost", ToolCall("t", "x", {}), "k")
    assert "MCPServer default/ghost" in str(caught.value)
    assert "/nonexistent/mcp-server" in str(caught.value)


def test_a_missing_secret_without_resolver_names_the_env_var():
    """Embedded, no env var: PermanentError naming server, Secret and the variable to set."""
    spec = {
        "transport": "stdio",
        "command": "x",
        "env": [{"name": "T", "valueFrom": _secret_ref()}],
    }
    with pytest.raises(PermanentError) as caught:
        server_config(_resource(spec), environ={})
    message = str(caught.value)
    assert caught.value.reason == "MCPServerSecretMissing"
    assert "MCPServer team-a/srv" in message
    assert "Secret team-a/creds key token" in message
    assert "BATON_SECRET_CREDS_TOKEN" in message


def test_a_missing_secret_from_the_resolver_names_server_and_secret():
    """The resolver says NotFound -> PermanentError naming the MCPServer and the Secret."""

    def secrets(namespace, name, key):
        raise NotFound(f'Secret {namespace}/{name} has no key "{key}"')

    spec = {
        "transport": "http",
        "url": "http://h",
        "headers": [{"name": "A", "valueFrom": _secret_ref()}],
    }
    with pytest.raises(PermanentError) as caught:
        server_config(_resource(spec), secrets=secrets)
    assert caught.value.reason == "MCPServerSecretMissing"
    assert str(caught.value) == 'MCPServer team-a/srv: Secret team-a/creds has no key "token"'


def test_secret_values_stay_out_of_repr_and_errors():
    """The resolved config's repr shows neither env nor header values."""
    spec = {
        "transport": "http",
        "url": "http://h/mcp",
        "headers": [{"name": "Authorization", "valueFrom": _secret_ref()}],
    }
    config = server_config(_resource(spec), secrets=lambda *_: SECRET)
    assert dict(config.headers) == {"Authorization": SECRET}
    assert SECRET not in repr(config)
    assert SECRET not in str(config)


def test_python_means_the_interpreter_baton_runs_on():
    """command python/python3 -> sys.executable, so a module server finds baton's packages."""
    config = server_config(
        _resource({"transport": "stdio", "command": "python", "args": ["-m", "x"]})
    )
    assert (config.command, config.args) == (sys.executable, ("-m", "x"))


def test_defaults_and_allow_globs():
    """timeoutSeconds defaults to 30; allow globs match whole names."""
    config = server_config(
        _resource({"transport": "stdio", "command": "srv", "tools": {"allow": ["get_*", "add"]}})
    )
    assert config.timeout == 30.0
    assert [t for t in ("get_note", "add", "adder", "put_note") if config.offers(t)] == [
        "get_note",
        "add",
    ]
