"""What a served function reads from its environment, read when the app is built (never at import).

``BATON_FUNCTION``  the function to serve (``call-llm`` or ``call_llm``); unset: the embedded server
``BATON_STORE``     ``sqlite:///path/to/state.db`` (default ``sqlite:///$BATON_DB``) or
                    ``kubernetes`` (in-cluster, else ``KUBECONFIG``) or ``kubernetes:///path/kubeconfig``
``K_SINK``          where follow-up events are POSTed (Knative's SinkBinding/Service env)
``BATON_MAX_BODY``  the largest request body accepted, bytes (default 1 MiB)
``BATON_SINK_TIMEOUT``  seconds to wait on the sink (default 10)
``BATON_READ_DEADLINE``  seconds a request may take to arrive whole (default 10; read by the
                    gunicorn worker, ``functions.serve.worker``)
``BATON_INGRESS_TOKEN``  when set, ``POST /`` needs ``Authorization: Bearer <token>`` (401
                    otherwise); ``baton serve`` on a non-loopback address requires it
``BATON_OFFLINE_MODELS``  ``1``: an anthropic Model with ``spec.script`` and no key plays its
                    script (as ``baton run`` does); off by default in a function
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from functions.ports import Store

__all__ = ["DEFAULT_MAX_BODY", "Settings", "build_store", "function_name"]

DEFAULT_MAX_BODY: Final = 1 << 20
DEFAULT_DB: Final = ".baton/state.db"


def function_name(value: str | None) -> str | None:
    """``call-llm`` (a Knative Service's name) -> ``call_llm`` (the module); empty -> None."""
    value = (value or "").strip()
    return value.replace("-", "_") if value else None


@dataclass(frozen=True)
class Settings:
    """A served function's configuration."""

    function: str | None = None
    store: str = f"sqlite:///{DEFAULT_DB}"
    sink: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    sink_timeout: float = 10.0
    offline_models: bool = False
    ingress_token: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings in ``env`` (default ``os.environ``)."""
        env = os.environ if env is None else env
        db = env.get("BATON_DB") or DEFAULT_DB
        return cls(
            function=function_name(env.get("BATON_FUNCTION")),
            store=env.get("BATON_STORE") or f"sqlite:///{db}",
            sink=env.get("K_SINK") or None,
            max_body=int(env.get("BATON_MAX_BODY") or DEFAULT_MAX_BODY),
            sink_timeout=float(env.get("BATON_SINK_TIMEOUT") or 10.0),
            offline_models=env.get("BATON_OFFLINE_MODELS", "").lower() in ("1", "true", "yes"),
            ingress_token=env.get("BATON_INGRESS_TOKEN", "").strip(),
        )


def build_store(spec: str) -> Store:
    """The Store a ``BATON_STORE`` value names."""
    if spec.startswith("sqlite://"):
        path = spec[len("sqlite://") :]
        # sqlite:///rel/path and sqlite:////abs/path, as SQLAlchemy spells them.
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise ValueError(f"BATON_STORE={spec!r}: no database path")
        from functions.resources.sqlite import SqliteStore

        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return SqliteStore(path)
    if spec == "kubernetes" or spec.startswith("kubernetes://"):
        from functions.resources.kubernetes import kubernetes_store

        kubeconfig = spec[len("kubernetes://") :] or None
        return kubernetes_store(kubeconfig)
    raise ValueError(f"BATON_STORE={spec!r}: expected sqlite:///path or kubernetes")
