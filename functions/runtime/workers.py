"""The NATS shape: the chain's functions as separate processes on JetStream, one store.

A ``Worker`` serves some functions (durable pull consumers, see events/buses/jetstream.py)
with Deps over the shared SQLite store; a ``Source`` is the store's ApiServerSource (watch
-> ``dev.knative.apiserver.resource.*`` events) plus the sweep timer. Kill any of them at
any point: JetStream redelivers what a worker held, the transitions are idempotent, and
sweep re-emits what a source missed while it was down.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from dataclasses import replace

from events.buses.jetstream import JetStreamBus, JetStreamConfig
from functions import chain
from functions.runtime.deps import build_deps
from functions.runtime.eventlog import EventLog
from functions.runtime.source import follow_runs, tick
from functions.runtime.triggers import TriggerFeeds
from functions.runtime.warmup import warm_up

__all__ = ["Source", "Worker", "run_source", "run_worker", "serve_until_stopped"]

log = logging.getLogger("baton.workers")


def _config(nats_url: str, config: JetStreamConfig | None) -> JetStreamConfig:
    return replace(config or JetStreamConfig(), url=nats_url)


class Worker:
    """Serves ``functions`` (all of the chain when empty) from JetStream; a context manager.

    Unless ``warm`` is False it first builds its model clients and starts its MCP servers
    (functions/runtime/warmup.py), so it takes its first event ready to do the work.
    """

    def __init__(
        self,
        functions: Sequence[str],
        nats_url: str,
        store_path: str,
        *,
        config: JetStreamConfig | None = None,
        offline_fallback: bool = False,
        warm: bool = True,
    ) -> None:
        from functions.resources.sqlite import SqliteStore

        wanted = list(functions) or list(chain.FUNCTIONS)
        unknown = sorted(set(wanted) - set(chain.FUNCTIONS))
        if unknown:
            raise ValueError(f"unknown functions {unknown}; known: {', '.join(chain.FUNCTIONS)}")
        self.functions = wanted
        self.store = SqliteStore(store_path)
        self.deps = build_deps(self.store, offline_fallback=offline_fallback)
        if warm:  # before the first pull: no claim is held through an SDK import
            warm_up(self.deps, wanted)
        self.events = EventLog(store_path)
        self.bus = JetStreamBus(_config(nats_url, config))
        for sub in chain.subscriptions(self.deps, wanted, recorder=self.events):
            self.bus.subscribe(sub)
        if "dead_letter" in wanted:
            self.bus.on_dead_letter(chain.dead_letter_handler(self.deps, self.events))
        log.info("worker serving %s from %s", ", ".join(wanted), nats_url)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop taking events; in-flight transitions finish and are acked first."""
        self.bus.close()
        self.events.close()
        close_tools = getattr(self.deps.tools, "close", None)
        if close_tools is not None:
            close_tools()  # the MCP servers this worker started stop with it


class Source:
    """Publishes AgentRun changes as ApiServerSource events, and sweep's ticks."""

    def __init__(
        self,
        nats_url: str,
        store_path: str,
        *,
        config: JetStreamConfig | None = None,
        sweep_interval: float = 1.0,
    ) -> None:
        from functions.resources.sqlite import SqliteStore

        self.store = SqliteStore(store_path)
        self.events = EventLog(store_path)
        self.bus = JetStreamBus(_config(nats_url, config))
        self._sweep_interval = sweep_interval
        self._stop = threading.Event()
        self._watching = threading.Event()
        self.triggers = TriggerFeeds(build_deps(self.store), nats_url=nats_url)
        self._threads = [
            threading.Thread(target=self._watch, name="baton-source-watch", daemon=True),
            threading.Thread(target=self._tick, name="baton-source-tick", daemon=True),
        ]

    def __enter__(self) -> Source:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        """Start watching and ticking; returns once the watch has its starting point."""
        for thread in self._threads:
            thread.start()
        self._watching.wait(10)
        self.triggers.start()

    def close(self) -> None:
        """Stop the watch and the timer, then disconnect."""
        self._stop.set()
        self.triggers.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self.bus.close()
        self.events.close()

    def _watch(self) -> None:
        follow_runs(
            self.store,
            self.bus.publish,
            stop=self._stop,
            ready=self._watching,
            record=self.events.record,
            timeout=0.5,
        )

    def _tick(self) -> None:
        tick(
            self.bus.publish,
            interval=self._sweep_interval,
            stop=self._stop,
        )


def serve_until_stopped(stop: threading.Event | None = None) -> None:
    """Block until ``stop`` is set, or SIGTERM/SIGINT when called on the main thread."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    stop.wait()


def run_worker(
    functions: Sequence[str],
    nats_url: str,
    store_path: str,
    *,
    stop: threading.Event | None = None,
    config: JetStreamConfig | None = None,
    offline_fallback: bool = False,
) -> None:
    """Serve ``functions`` until ``stop`` is set (or SIGTERM/SIGINT in the main thread)."""
    with Worker(functions, nats_url, store_path, config=config, offline_fallback=offline_fallback):
        serve_until_stopped(stop)


def run_source(
    nats_url: str,
    store_path: str,
    *,
    stop: threading.Event | None = None,
    config: JetStreamConfig | None = None,
    sweep_interval: float = 1.0,
) -> None:
    """Publish the store's AgentRun changes and ticks until stopped (as ``run_worker``)."""
    with Source(
        nats_url,
        store_path,
        config=config,
        sweep_interval=sweep_interval,
    ):
        serve_until_stopped(stop)
