"""An MCPServer resource read into a connection config, with Secret refs resolved.

Env (stdio) and header (http) values come from ``value`` or ``valueFrom.secretKeyRef``,
read by the one Secret lookup Models use (``functions.secrets.secret_value``): with a
``secrets`` resolver (Kubernetes) the Secret is read; without one (embedded) the value comes
from the environment variable ``BATON_SECRET_<NAME>_<KEY>`` (Secret ``github-mcp`` key
``token`` -> ``BATON_SECRET_GITHUB_MCP_TOKEN``). Errors name the
MCPServer and the place a value was looked up, never the value; ``ServerConfig``'s repr
leaves env and headers out.

A stdio ``command`` of ``python`` or ``python3`` runs the interpreter baton itself runs on
(``sys.executable``), so a server shipped as a Python module finds the same packages
whether baton runs from a virtualenv that is not activated or from the container image.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Final, Literal

from events.errors import PermanentError
from functions.ports import NotFound, Resource
from functions.secrets import SecretResolver, secret_env_var, secret_value

__all__ = ["DEFAULT_TIMEOUT", "ServerConfig", "server_config"]

DEFAULT_TIMEOUT: Final = 30.0
MIN_CONNECT_TIMEOUT: Final = 30.0  # starting a stdio server (npx, uvx, a JVM) takes a while
_INVALID: Final = "InvalidMCPServer"
_SECRET_MISSING: Final = "MCPServerSecretMissing"
_PYTHON: Final = frozenset({"python", "python3"})


@dataclass(frozen=True)
class ServerConfig:
    """How to reach one MCP server; equal configs can share a connection."""

    namespace: str
    name: str
    transport: Literal["stdio", "http"]
    command: str = ""
    args: tuple[str, ...] = ()
    url: str = ""
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    timeout: float = DEFAULT_TIMEOUT
    allow: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How errors and logs name the server."""
        return f"MCPServer {self.namespace}/{self.name}"

    @property
    def connect_timeout(self) -> float:
        """Seconds allowed to start or reach the server and initialize the session."""
        return max(self.timeout, MIN_CONNECT_TIMEOUT)

    @property
    def spec_key(self) -> str:
        """What makes a server process (or HTTP session) distinct: equal keys share one.

        Namespace, transport, command, args, env, url and headers (Secret values included, so
        a rotated Secret starts a fresh server); not the name, timeout or allow-list, which
        only shape how baton uses it. A digest, so the key itself holds no secret.
        """
        parts = (self.namespace, self.transport, self.command, self.args, self.env)
        digest = hashlib.sha256(repr((*parts, self.url, self.headers)).encode())
        return digest.hexdigest()

    def offers(self, tool: str) -> bool:
        """Whether ``spec.tools.allow`` lets agents use ``tool`` (all tools when unset)."""
        return not self.allow or any(fnmatchcase(tool, pattern) for pattern in self.allow)


def _value(
    label: str,
    namespace: str,
    item: Mapping[str, Any],
    secrets: SecretResolver | None,
    environ: Mapping[str, str],
) -> str:
    if "value" in item:
        return str(item["value"])
    ref = (item.get("valueFrom") or {}).get("secretKeyRef") or {}
    if not ref.get("name") or not ref.get("key"):
        raise PermanentError(
            f"{label}: {item.get('name')!r} needs value or valueFrom.secretKeyRef {{name, key}}",
            reason=_INVALID,
        )
    secret, key = str(ref["name"]), str(ref["key"])
    try:
        value = secret_value(namespace, secret, key, secrets, environ)
    except NotFound as exc:
        raise PermanentError(f"{label}: {exc}", reason=_SECRET_MISSING) from None
    except PermanentError as exc:
        raise PermanentError(f"{label}: {exc.message}", reason=exc.reason) from None
    if value is None:
        raise PermanentError(
            f"{label}: Secret {namespace}/{secret} key {key} is not available: "
            f"set the environment variable {secret_env_var(secret, key)}",
            reason=_SECRET_MISSING,
        )
    return value


def _pairs(
    label: str,
    namespace: str,
    items: Any,
    secrets: SecretResolver | None,
    environ: Mapping[str, str],
) -> tuple[tuple[str, str], ...]:
    return tuple(
        (str(item["name"]), _value(label, namespace, item, secrets, environ))
        for item in items or []
    )


def server_config(
    resource: Resource,
    secrets: SecretResolver | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServerConfig:
    """The config of an MCPServer resource; PermanentError naming it when it is unusable."""
    meta = resource.get("metadata") or {}
    namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
    label = f"MCPServer {namespace}/{name}"
    spec = resource.get("spec") or {}
    env = os.environ if environ is None else environ
    transport = spec.get("transport")
    timeout = float(spec.get("timeoutSeconds") or DEFAULT_TIMEOUT)
    allow = tuple(str(p) for p in (spec.get("tools") or {}).get("allow") or [])
    if transport == "stdio":
        if env.get("BATON_MCP_STDIO", "").strip().lower() in ("off", "refuse", "false", "0"):
            # A stdio server would run inside this process's pod, able to read its Kubernetes
            # token; a deployment that holds one runs such servers as their own Service.
            raise PermanentError(
                f"{label}: stdio MCP servers are disabled here (BATON_MCP_STDIO=off); run the "
                "server as its own Service and use transport http (see knative/README.md)",
                reason="StdioDisabled",
            )
        if not spec.get("command"):
            raise PermanentError(f"{label}: transport stdio needs spec.command", reason=_INVALID)
        return ServerConfig(
            namespace,
            name,
            "stdio",
            command=sys.executable if spec["command"] in _PYTHON else str(spec["command"]),
            args=tuple(str(a) for a in spec.get("args") or []),
            env=_pairs(label, namespace, spec.get("env"), secrets, env),
            timeout=timeout,
            allow=allow,
        )
    if transport == "http":
        url = str(spec.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise PermanentError(
                f"{label}: transport http needs an http(s) spec.url", reason=_INVALID
            )
        return ServerConfig(
            namespace,
            name,
            "http",
            url=url,
            headers=_pairs(label, namespace, spec.get("headers"), secrets, env),
            timeout=timeout,
            allow=allow,
        )
    raise PermanentError(
        f"{label}: spec.transport must be stdio or http, not {transport!r}", reason=_INVALID
    )
