"""Reading one value of a Kubernetes Secret (an API key, an MCP token) without ever showing it.

The shape of ``functions.secrets.SecretResolver``: a missing Secret or key is a
``PermanentError`` naming the Secret and the key, never the value; the value is not logged
here or by the callers (``functions.models.keys.ApiKey`` hides it from repr).
"""

from __future__ import annotations

import base64
import binascii

from events.errors import PermanentError
from functions.kube.api import KubeAPI
from functions.kube.names import name_segment, namespace_segment
from functions.ports import NotFound

__all__ = ["read_secret"]


def read_secret(api: KubeAPI, namespace: str, name: str, key: str) -> str:
    """The text under ``key`` of Secret ``namespace/name``; PermanentError naming a gap."""
    path = (
        f"/api/v1/namespaces/{namespace_segment(namespace)}"
        f"/secrets/{name_segment(name, 'apiKeySecretRef.name')}"
    )
    place = f'Secret {namespace}/{name} key "{key}"'
    try:
        secret = api.request("GET", path)
    except NotFound as exc:
        raise PermanentError(f"{place}: no such Secret", reason="SecretNotFound") from exc
    meta = secret.get("metadata") or {}
    if (meta.get("namespace"), meta.get("name")) != (namespace, name):
        raise PermanentError(f"{place}: no such Secret", reason="SecretNotFound")
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        raise PermanentError(f"{place}: the Secret has no such key", reason="SecretNotFound")
    try:
        return base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        # The message names the place only: a partly readable key must not reach a log.
        raise PermanentError(f"{place} is not UTF-8 text", reason="InvalidSecret") from exc
