"""Where a Secret value comes from, in every shape: a resolver, else ``BATON_SECRET_*``.

A Secret ref ``{name, key}`` is read with a ``SecretResolver`` where there is one
(Kubernetes); without one (embedded, NATS workers) it is the environment variable
``BATON_SECRET_<NAME>_<KEY>``: the Secret's name and key upper-cased, every character other
than A-Z and 0-9 turned into ``_`` (Secret ``openai`` key ``api-key`` ->
``BATON_SECRET_OPENAI_API_KEY``). A Model's API key and an MCP server's env and headers are
read the same way, so one Secret serves both.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

__all__ = ["SecretResolver", "secret_env_var", "secret_value"]

SecretResolver = Callable[[str, str, str], str]
"""(namespace, secret name, key) -> value; raises PermanentError naming the Secret when missing."""


def secret_env_var(secret: str, key: str) -> str:
    """The environment variable that stands in for a Secret key when no resolver is given."""
    return "BATON_SECRET_" + re.sub(r"[^A-Z0-9]", "_", f"{secret}_{key}".upper())


def secret_value(
    namespace: str,
    secret: str,
    key: str,
    secrets: SecretResolver | None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The Secret key's value: from the resolver, else its variable (None when that is unset)."""
    if secrets is not None:
        return secrets(namespace, secret, key)
    env = os.environ if environ is None else environ
    return env.get(secret_env_var(secret, key))
