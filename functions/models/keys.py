"""Where a Model's API key comes from, and where it may be sent.

A Model's key: its ``apiKeySecretRef`` read as every Secret ref is (``functions.secrets``:
the resolver, else ``BATON_SECRET_<NAME>_<KEY>``), else the variable ``apiKeyEnv`` (default
``ANTHROPIC_API_KEY`` or ``OPENAI_API_KEY`` by provider). The key travels as an ``ApiKey``
whose repr hides the value; error messages name the place the key was looked up (the Secret
and key, or the variable), never the value.

A key read from a Secret goes only to its provider's host. A Model whose ``baseURL`` points
elsewhere gets the key only when its namespace allows that URL: the Secret
``baton-model-policy`` in the Model's namespace lists URL prefixes under the key
``allowedBaseURLs`` (comma-separated, ``events.url_prefixes`` rules). Otherwise anyone who
may create a Model could send the namespace's key to a server of their choosing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from events.errors import PermanentError
from events.url_prefixes import parse_list, url_allowed
from functions.secrets import SecretResolver, secret_env_var, secret_value

__all__ = [
    "DEFAULT_KEY_ENV",
    "POLICY_KEY",
    "POLICY_SECRET",
    "PROVIDER_URLS",
    "ApiKey",
    "default_key_env",
    "has_api_key",
    "resolve_api_key",
]

DEFAULT_KEY_ENV: Final = "ANTHROPIC_API_KEY"
_DEFAULT_KEY_ENVS: Final = {"anthropic": DEFAULT_KEY_ENV, "openai": "OPENAI_API_KEY"}
_MISSING: Final = "ModelCredentialsMissing"
POLICY_SECRET: Final = "baton-model-policy"
POLICY_KEY: Final = "allowedBaseURLs"
# Where each provider's key may always go.
PROVIDER_URLS: Final = {
    "anthropic": ("https://api.anthropic.com",),
    "openai": ("https://api.openai.com",),
}


@dataclass(frozen=True)
class ApiKey:
    """An API key and a description of where it came from (safe to show)."""

    value: str = field(repr=False)
    source: str

    def __str__(self) -> str:
        return self.source


def default_key_env(model: Mapping[str, Any]) -> str:
    """The variable a Model's key is read from when no Secret supplies it."""
    spec = model.get("spec") or {}
    default = _DEFAULT_KEY_ENVS.get(str(spec.get("provider")), DEFAULT_KEY_ENV)
    return str(spec.get("apiKeyEnv") or default)


def has_api_key(model: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> bool:
    """True when the embedded shape finds a key for the Model (Secret variable or apiKeyEnv)."""
    try:
        resolve_api_key(model, None, environ)
    except PermanentError:
        return False
    return True


def resolve_api_key(
    model: Mapping[str, Any],
    secrets: SecretResolver | None = None,
    environ: Mapping[str, str] | None = None,
) -> ApiKey:
    """The key for a Model resource: its Secret ref (resolver or variable), else apiKeyEnv."""
    spec = model.get("spec") or {}
    env = os.environ if environ is None else environ
    ref = spec.get("apiKeySecretRef") or {}
    variable = default_key_env(model)
    places = f"set the environment variable {variable}"
    if ref.get("name"):
        namespace = (model.get("metadata") or {}).get("namespace") or "default"
        name, key = str(ref["name"]), str(ref.get("key") or "api-key")
        source = f"Secret {namespace}/{name} key {key}"
        if secrets is not None:
            _confine(model, namespace, secrets)
        value = (secret_value(namespace, name, key, secrets, env) or "").strip()
        if secrets is not None:
            if not value:
                raise PermanentError(f"empty API key in {source}", reason=_MISSING)
            return ApiKey(value, source)
        stand_in = secret_env_var(name, key)
        if value:
            return ApiKey(value, f"{source} (environment variable {stand_in})")
        places = f"set the environment variable {stand_in} ({source}) or {variable}"
    value = env.get(variable, "").strip()
    if not value:
        raise PermanentError(f"no API key: {places}", reason=_MISSING)
    return ApiKey(value, f"environment variable {variable}")


def _confine(model: Mapping[str, Any], namespace: str, secrets: SecretResolver) -> None:
    """Refuse a ``baseURL`` off the provider's host unless the namespace allows it."""
    spec = model.get("spec") or {}
    base = str(spec.get("baseURL") or "")
    if not base or url_allowed(base, PROVIDER_URLS.get(str(spec.get("provider")), ())):
        return
    try:
        allowed = parse_list(secrets(namespace, POLICY_SECRET, POLICY_KEY))
    except (PermanentError, ValueError):
        allowed = ()
    if not url_allowed(base, allowed):
        name = (model.get("metadata") or {}).get("name")
        raise PermanentError(
            f"Model {namespace}/{name}: baseURL {base[:200]!r} is not the provider's API, and "
            f"namespace {namespace} does not allow it (Secret {POLICY_SECRET} key {POLICY_KEY} "
            "lists the URLs a Model's key may be sent to)",
            reason="BaseURLNotAllowed",
        )
