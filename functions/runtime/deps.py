"""Building a process's Deps: one factory for every shape (embedded, workers, HTTP)."""

from __future__ import annotations

import time

from functions.models import ModelRegistry
from functions.observe.wiring import observed
from functions.ports import Channels, Deps, Store
from functions.secrets import SecretResolver
from functions.tools import AgentToolbox

__all__ = ["SystemClock", "build_deps"]


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()


def build_deps(
    store: Store,
    *,
    secrets: SecretResolver | None = None,
    offline_fallback: bool = False,
    channels: Channels | None = None,
) -> Deps:
    """Deps over ``store`` with the default model registry, toolbox, clock and chat channels."""
    if channels is None:
        from functions.channels import ChatChannels

        # Tokens and base URLs from the environment, read now (when the process starts).
        channels = ChatChannels.from_env()
    deps = Deps(
        store=store,
        models=ModelRegistry(secrets, offline_fallback=offline_fallback),
        tools=AgentToolbox(store, secrets=secrets),
        clock=SystemClock(),
        channels=channels,
    )
    return observed(deps)  # run Events and metrics at the seams (functions/observe)
