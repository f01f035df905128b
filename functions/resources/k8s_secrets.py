"""Reading one value of a Kubernetes Secret (a Model's API key) without ever showing it.

Errors name the Secret and the key, never the value; the value is not logged here or by the
callers (``functions.models.keys.ApiKey`` hides it from repr).
"""

from __future__ import annotations

import base64
import binascii

from events.errors import PermanentError
from functions.ports import NotFound
from functions.resources.k8s_api import KubeAPI

__all__ = ["read_secret"]


def read_secret(api: KubeAPI, namespace: str, name: str, key: str) -> str:
    """The text under ``key`` of Secret ``namespace/name``; NotFound naming what is missing."""
    secret = api.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        raise NotFound(f'Secret {namespace}/{name} has no key "{key}"')
    try:
        return base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        # The message names the place only: a partly readable key must not reach a log.
        raise PermanentError(
            f'Secret {namespace}/{name} key "{key}" is not UTF-8 text', reason="InvalidSecret"
        ) from exc
