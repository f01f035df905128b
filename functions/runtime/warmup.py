"""A worker warms up before it takes events: model SDKs imported, MCP servers started.

Taken cold, the first deliveries pay for it: the first model call imports the SDK and the
first tool listing or call starts the MCP server, 1.5-3 s on a busy node, while the
delivery holds the call's claim and the worker's concurrency slots. A worker killed in
that window (a restart that fails again, a node under pressure) strands those claims for a
whole lease (functions/run/claims.py), and under repeated kills those waits add up to
runs half a minute late. Warmed first, a claim is held only while its call runs.

    warm_up(deps, ["call_llm", "call_tool"])

Best effort and bounded: a Model or MCPServer that cannot be warmed is left to the first
run that needs it, and after ``budget`` seconds the worker starts anyway (what is still
starting finishes in the background).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Final

from functions.ports import Deps

__all__ = ["WARM_SECONDS", "warm_up"]

log = logging.getLogger("baton.warmup")

WARM_SECONDS: Final = 15.0
_CALLS_MODEL: Final = frozenset({"call_llm"})
_LISTS_TOOLS: Final = frozenset({"prepare_context", "call_tool"})


def _models(deps: Deps) -> None:
    """Every Model's client, built (the SDK imported) by the factory that will use it."""
    warm = getattr(deps.models, "warm", None)
    if warm is not None:
        warm(deps.store.list("Model"))


def _tools(deps: Deps) -> None:
    """Every Agent's tools listed: its MCP servers started and their listings cached."""
    for agent in deps.store.list("Agent"):
        namespace = str(agent["metadata"].get("namespace") or "default")
        try:
            deps.tools.specs(agent, namespace)
        except Exception as exc:  # reported by the run that needs these tools
            log.debug("tools of agent %s not warmed: %s", agent["metadata"].get("name"), exc)


def warm_up(deps: Deps, functions: Collection[str], *, budget: float = WARM_SECONDS) -> None:
    """Get ready for ``functions``' first events; returns within ``budget`` seconds."""
    jobs: list[Callable[[Deps], None]] = []
    if _CALLS_MODEL & set(functions):
        jobs.append(_models)
    if _LISTS_TOOLS & set(functions):
        jobs.append(_tools)
    started = time.monotonic()
    threads = [
        threading.Thread(target=_quietly, args=(job, deps), name="baton-warmup", daemon=True)
        for job in jobs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, started + budget - time.monotonic()))
    if any(t.is_alive() for t in threads):
        log.warning("warm-up not done after %gs; taking events anyway", budget)
    elif jobs:
        log.info(
            "warmed up for %s in %.2fs", ", ".join(sorted(functions)), time.monotonic() - started
        )


def _quietly(job: Callable[[Deps], None], deps: Deps) -> None:
    try:
        job(deps)
    except Exception:  # a store hiccup at start: the first events warm up instead
        log.warning("warm-up failed", exc_info=True)
