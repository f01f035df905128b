"""Fixtures for the MCP tool tests: a store, real MCP servers (stdio and HTTP), MCPTools."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.ports import API_VERSION, Resource, Store
from functions.resources.sqlite import SqliteStore
from functions.tools.mcp import MCPTools
from tests.fakes.mcp_servers import REPO, HTTPServer, stdio_command


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh SQLite store (it validates MCPServers against their CRD)."""
    return SqliteStore(str(tmp_path / "state.db"))


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """Where the test servers record the calls they receive."""
    return tmp_path / "server-state"


def mcp_server(store: Store, name: str, spec: dict[str, Any]) -> Resource:
    """Create MCPServer ``default/<name>``."""
    return store.create(
        {
            "apiVersion": API_VERSION,
            "kind": "MCPServer",
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec,
        }
    )


def stdio_spec(state_dir: Path, **spec: Any) -> dict[str, Any]:
    """The spec of the stdio test server over ``state_dir``; ``spec`` overrides fields."""
    command, args = stdio_command(state_dir)
    env = [{"name": "PYTHONPATH", "value": str(REPO)}, *spec.pop("env", [])]
    return {"transport": "stdio", "command": command, "args": args, "env": env, **spec}


@pytest.fixture
def http_server(state_dir: Path) -> Iterator[HTTPServer]:
    """The test tool set over streamable HTTP on a free loopback port."""
    with HTTPServer(state_dir) as server:
        yield server


@pytest.fixture
def make_tools(store: Store) -> Iterator[Callable[..., MCPTools]]:
    """A factory of MCPTools over ``store``; every one is closed at teardown."""
    made: list[MCPTools] = []

    def make(**kwargs: Any) -> MCPTools:
        tools = MCPTools(store, **kwargs)
        made.append(tools)
        return tools

    yield make
    for tools in made:
        tools.close()


@pytest.fixture
def tools(make_tools: Callable[..., MCPTools]) -> MCPTools:
    """MCPTools without a Secret resolver and an empty environment."""
    return make_tools(environ={})
