"""A Secret ref is read the same way for Models and MCP servers: resolver, else BATON_SECRET_*."""

from __future__ import annotations

from functions.models.keys import resolve_api_key
from functions.secrets import secret_env_var, secret_value
from functions.tools.mcp_config import server_config

SHARED = {"name": "shared", "key": "token"}


def test_secret_env_var_convention() -> None:
    """Name and key upper-cased, anything else than A-Z0-9 becomes an underscore."""
    assert secret_env_var("github-mcp", "token") == "BATON_SECRET_GITHUB_MCP_TOKEN"
    assert secret_env_var("a.b", "api-key") == "BATON_SECRET_A_B_API_KEY"


def test_resolver_is_read_where_there_is_one() -> None:
    """With a resolver the variable is ignored; without one the variable is the value."""
    environ = {"BATON_SECRET_SHARED_TOKEN": "from-env"}
    read: list[tuple[str, str, str]] = []

    def resolver(namespace: str, name: str, key: str) -> str:
        read.append((namespace, name, key))
        return "from-secret"

    assert secret_value("team-a", "shared", "token", resolver, environ) == "from-secret"
    assert read == [("team-a", "shared", "token")]
    assert secret_value("team-a", "shared", "token", None, environ) == "from-env"
    assert secret_value("team-a", "other", "token", None, environ) is None


def test_models_and_mcp_servers_share_one_secret_lookup() -> None:
    """The same Secret ref gives the same value to a Model key and to an MCPServer header."""
    environ = {secret_env_var("shared", "token"): "sk-shared"}
    model = {
        "metadata": {"name": "m", "namespace": "team-a"},
        "spec": {"provider": "anthropic", "model": "claude-sonnet-5-5", "apiKeySecretRef": SHARED},
    }
    key = resolve_api_key(model, None, environ)
    mcp = {
        "metadata": {"name": "gh", "namespace": "team-a"},
        "spec": {
            "transport": "http",
            "url": "http://127.0.0.1:1/mcp",
            "headers": [{"name": "Authorization", "valueFrom": {"secretKeyRef": SHARED}}],
        },
    }
    assert key.value == "sk-shared"
    assert server_config(mcp, None, environ).headers == (("Authorization", key.value),)
