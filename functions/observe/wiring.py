"""Putting the observers on a process's Deps, and finding a store's Events."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from functions.observe.metrics import enabled as metrics_enabled
from functions.observe.recorder import EventBackend, EventRecorder
from functions.ports import Deps, Store

__all__ = ["event_backend_for", "events_enabled", "observed"]


def events_enabled() -> bool:
    """False when ``BATON_EVENTS`` is 0/false/no."""
    return os.environ.get("BATON_EVENTS", "1").lower() not in ("0", "false", "no")


def event_backend_for(store: Any) -> EventBackend | None:
    """Where ``store``'s run Events live: its SQLite file, or its API server's core/v1 Events."""
    store = getattr(store, "inner", store)  # an ObservedStore's
    # By module, not isinstance: a process on one store does not import the other's code.
    module = type(store).__module__
    if module == "functions.resources.sqlite":
        from functions.observe.sqlite_events import SqliteEvents

        return SqliteEvents(store.db.path)
    if module == "functions.resources.kubernetes":
        from functions.observe.k8s_events import KubernetesEvents

        return KubernetesEvents(store.api)
    return None


def observed(deps: Deps) -> Deps:
    """``deps`` with run Events recorded and models, tools and runs measured."""
    from functions.observe.instrument import MeasuredModels, MeasuredToolbox
    from functions.observe.observed_store import ObservedStore

    backend = event_backend_for(deps.store) if events_enabled() else None
    recorder = EventRecorder(backend) if backend is not None else None
    measure = metrics_enabled()
    if recorder is None and not measure:
        return deps
    store: Store = ObservedStore(deps.store, recorder, count_runs=measure)
    if not measure:
        return replace(deps, store=store)
    return replace(
        deps, store=store, models=MeasuredModels(deps.models), tools=MeasuredToolbox(deps.tools)
    )
