"""Where a Model's API key comes from: a Secret ref (Kubernetes) or an environment variable.

The key travels as an ``ApiKey`` whose repr hides the value; error messages name the place
the key was looked up (the Secret and key, or the variable), never the value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from events.errors import PermanentError

__all__ = ["DEFAULT_KEY_ENV", "ApiKey", "SecretResolver", "resolve_api_key"]

DEFAULT_KEY_ENV: Final = "ANTHROPIC_API_KEY"

SecretResolver = Callable[[str, str, str], str]
"""(namespace, secret name, key) -> value; raises PermanentError naming the Secret when missing."""


@dataclass(frozen=True)
class ApiKey:
    """An API key and a description of where it came from (safe to show)."""

    value: str = field(repr=False)
    source: str

    def __str__(self) -> str:
        return self.source


def resolve_api_key(
    model: Mapping[str, Any],
    secrets: SecretResolver | None = None,
    environ: Mapping[str, str] | None = None,
) -> ApiKey:
    """The key for a Model resource: its Secret ref when ``secrets`` is given, else env."""
    spec = model.get("spec") or {}
    ref = spec.get("apiKeySecretRef") or {}
    if secrets is not None and ref.get("name"):
        namespace = (model.get("metadata") or {}).get("namespace") or "default"
        name, key = str(ref["name"]), str(ref.get("key") or "api-key")
        source = f"Secret {namespace}/{name} key {key}"
        value = secrets(namespace, name, key)
        if not value:
            raise PermanentError(f"empty API key in {source}", reason="ModelCredentialsMissing")
        return ApiKey(value.strip(), source)
    env = os.environ if environ is None else environ
    variable = str(spec.get("apiKeyEnv") or DEFAULT_KEY_ENV)
    value = env.get(variable, "").strip()
    if not value:
        raise PermanentError(
            f"no API key: set the environment variable {variable}", reason="ModelCredentialsMissing"
        )
    return ApiKey(value, f"environment variable {variable}")
