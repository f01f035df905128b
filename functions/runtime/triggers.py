"""Trigger feeds of the embedded and NATS shapes: schedules, cluster watches, CloudEvents.

What Knative's generated PingSources, ApiServerSources and broker Triggers do for the
trigger function on a cluster, done here: one loop reads the store's AgentTriggers
every ``poll`` seconds, compiles new generations (``Ready`` or why not), fires each due
schedule (the fire's time is its id, and ``status.lastScheduleTime`` moves after it,
so a restart neither repeats nor loses a fire inside the grace window), keeps one
watch thread per ``kubernetes`` trigger (through ``kubeconfig``), and writes the
coalesced drop counts. Events are offered to the trigger function directly, one
trigger's events in order, retried on transient errors.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent

from events import types
from events.bus import matches
from events.envelope import make_event
from events.errors import PermanentError, TransientError
from functions.ports import Conflict, Deps, NotFound, Resource
from functions.run.status import parse_time, rfc3339, set_condition
from functions.trigger import offer_event
from functions.trigger.fire import flush
from functions.trigger.matching import TRIGGER_EXTENSION, trigger_key
from functions.trigger.reconcile import READY, reconcile
from functions.trigger.spec import KIND, SpecError, compiled
from functions.trigger.tally import tally_for

__all__ = ["TriggerFeeds", "ping_source_name"]

log = logging.getLogger("baton.trigger.feeds")
_ATTEMPTS: Final = 5
_CHECKPOINT_EVERY: Final = 5.0


def ping_source_name(trigger_name: str) -> str:
    """The PingSource a schedule trigger has in Knative (its events' source names it)."""
    return f"baton-trigger-{trigger_name}"[:63].rstrip("-")


class TriggerFeeds:
    """Feeds every AgentTrigger of ``deps.store``; a context manager."""

    def __init__(
        self,
        deps: Deps,
        *,
        kubeconfig: str | None = None,
        nats_url: str | None = None,
        poll: float = 1.0,
    ) -> None:
        self.deps = deps
        # BATON_TRIGGER_NATS_URL: the server nats sources consume from (NATS shape: its own).
        self.nats_url = nats_url or os.environ.get("BATON_TRIGGER_NATS_URL")
        # BATON_TRIGGER_KUBECONFIG: the cluster kubernetes sources watch (else $KUBECONFIG).
        self.kubeconfig = kubeconfig or os.environ.get("BATON_TRIGGER_KUBECONFIG")
        self.poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: dict[str, Any] = {}
        self._watches: dict[str, tuple[Any, threading.Thread, threading.Event]] = {}
        self._filters: list[tuple[str, dict[str, str]]] = []
        self._api: Any = None
        self._no_cluster: dict[str, Any] = {}  # trigger key -> the version already warned of
        self.nats_feeds: dict[str, Any] = {}  # by trigger key (tests wait for their ready)
        self._lock = threading.Lock()

    def __enter__(self) -> TriggerFeeds:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Read the triggers once now, then keep polling on a thread."""
        self.poll_once()
        self._thread = threading.Thread(target=self._loop, name="baton-triggers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and every watch."""
        self._stop.set()
        threads = []
        for _, thread, stop in list(self._watches.values()):
            stop.set()
            threads.append(thread)
        if self._thread is not None:
            threads.append(self._thread)
        for thread in threads:
            thread.join(timeout=5)
            if thread.is_alive():  # a watch blocked in a read: it ends at its timeout
                log.warning("trigger feeds: %s still running 5 s after stop", thread.name)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.poll_once()
            except (TransientError, OSError) as exc:
                log.warning("trigger feeds: %s", exc)

    def takes(self, event: BaseCloudEvent) -> bool:
        """True when some ``cloudEvent`` trigger's filter matches ``event`` (baton serve)."""
        with self._lock:
            filters = list(self._filters)
        return any(matches(event, f) for _, f in filters)

    def deliver(self, event: BaseCloudEvent) -> dict[str, str]:
        """Offer ``event`` to the triggers, retrying transient errors; the outcomes."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return offer_event(self.deps, event)
            except TransientError as exc:
                if attempt == _ATTEMPTS:
                    log.error("event %s dropped after %d tries: %s", event.get_id(), attempt, exc)
                    return {}
                time.sleep(exc.delay if exc.delay is not None else 0.05 * 2**attempt)
            except PermanentError as exc:
                log.error("event %s: %s", event.get_id(), exc)
                return {}
        return {}

    def poll_once(self) -> None:
        """One pass: reconcile changed triggers, fire due schedules, flush drop counts."""
        triggers = self.deps.store.list(KIND)
        live: set[str] = set()
        filters: list[tuple[str, dict[str, str]]] = []
        for trigger in triggers:
            meta = trigger["metadata"]
            key = trigger_key(meta["namespace"], meta["name"])
            live.add(key)
            version = (meta.get("uid"), meta.get("generation"))
            if self._seen.get(key) != version:
                reconcile(self.deps, (meta["namespace"], meta["name"]))
                self._seen[key] = version
            try:
                spec = compiled(trigger)
            except SpecError:
                self._unwatch(key)
                continue
            if spec.source == "schedule":
                self._schedule(trigger)
            elif spec.source == "kubernetes":
                self._watch(key, trigger)
            elif spec.source == "nats":
                self._consume(key, trigger)
            elif spec.source == "cloudEvent":
                wanted = {k: str(v) for k, v in spec.source_spec.items() if k != "extensions" and v}
                wanted.update(spec.source_spec.get("extensions") or {})
                filters.append((key, wanted))
        with self._lock:
            self._filters = filters
        for key in set(self._watches) - live:
            self._unwatch(key)
        for key in list(self._seen):
            if key not in live:
                del self._seen[key]
        tally = tally_for(self.deps.store)
        now = self.deps.clock.now()
        for tkey in tally.pending():
            if tally.due(tkey, now):
                flush(self.deps, tkey)

    # -- schedules -----------------------------------------------------------------

    def _schedule(self, trigger: Resource) -> None:
        spec = compiled(trigger)
        assert spec.schedule is not None
        meta, status = trigger["metadata"], trigger.get("status") or {}
        anchor = parse_time(status.get("lastScheduleTime")) or parse_time(
            meta.get("creationTimestamp")
        )
        now = self.deps.clock.now()
        fire, skipped = spec.schedule.due(anchor if anchor is not None else now, now)
        if fire is None:
            if skipped:  # all too late: move past them so they are not looked at again
                self._mark_fired(trigger, now - spec.schedule.grace)
            return
        if skipped:
            log.warning("trigger %s/%s: %d fire(s) skipped (later than the grace window)",
                        meta["namespace"], meta["name"], skipped)  # fmt: skip
        ping = ping_source_name(str(meta["name"]))
        event = make_event(
            types.PING,
            f"/apis/v1/namespaces/{meta['namespace']}/pingsources/{ping}",
            # The data and the time a PingSource sends: ``event.time`` is the fire's time.
            {"schedule": spec.source_spec.get("cron"),
             "timeZone": spec.source_spec.get("timeZone") or "UTC"},
            id_=f"{meta.get('uid', '')}/{rfc3339(fire)}",
            time=datetime.fromtimestamp(fire, UTC),
            extensions={TRIGGER_EXTENSION: trigger_key(meta["namespace"], meta["name"])},
        )  # fmt: skip
        self.deliver(event)
        self._mark_fired(trigger, fire)

    def _mark_fired(self, trigger: Resource, fire: float) -> None:
        self._patch_status(trigger, lambda status: status.update(lastScheduleTime=rfc3339(fire)))

    def _patch_status(self, trigger: Resource, edit: Callable[[dict[str, Any]], None]) -> None:
        meta = trigger["metadata"]
        for _ in range(_ATTEMPTS * 3):
            try:
                current = self.deps.store.get(KIND, meta["namespace"], meta["name"])
                status = dict(current.get("status") or {})
                edit(status)
                self.deps.store.update_status({**current, "status": status})
                return
            except NotFound:
                return
            except Conflict:
                continue

    # -- cluster watches -----------------------------------------------------------

    def _kube_api(self) -> Any:
        if self._api is None:
            from functions.kube.api import KubeAPI, connect

            self._api = KubeAPI(connect(self.kubeconfig))
        return self._api

    def _watch(self, key: str, trigger: Resource) -> None:
        from functions.runtime.kube_feed import KubeFeed

        version, fed = self._fed(key, trigger)
        if fed:
            return
        self._unwatch(key)
        try:
            api = self._kube_api()
        except Exception as exc:  # the client's ConfigException has no root of ours
            # No cluster configured: the trigger waits for one; every other run goes on.
            if self._no_cluster.get(key) != version:
                self._no_cluster[key] = version
                message = f"no cluster to watch ({exc}): set BATON_TRIGGER_KUBECONFIG or KUBECONFIG"
                meta = trigger["metadata"]
                log.warning("trigger %s/%s: %s", meta["namespace"], meta["name"], message)
                self._patch_status(
                    trigger,
                    lambda s: set_condition(
                        s, READY, False, "NoCluster", message[:300], self.deps.clock.now()
                    ),
                )
            return
        stop = threading.Event()
        saved: dict[str, Any] = {"version": "", "at": 0.0}

        def checkpoint(resource_version: str) -> None:
            now = time.monotonic()
            if resource_version == saved["version"] or now - float(saved["at"]) < _CHECKPOINT_EVERY:
                return
            saved.update(version=resource_version, at=now)
            self._patch_status(
                trigger, lambda s: s.update(watch={"resourceVersion": resource_version})
            )

        feed = KubeFeed(
            api, trigger, self.deliver, checkpoint,
            server=str(api.client.configuration.host), stop=stop,
        )  # fmt: skip

        def run() -> None:
            while not stop.is_set():
                try:
                    feed.run()
                except (TransientError, OSError, RuntimeError, LookupError) as exc:
                    log.warning("trigger %s: watch: %s; retrying", key, exc)
                    stop.wait(2.0)
                except PermanentError as exc:
                    log.error("trigger %s: watch: %s", key, exc)
                    stop.wait(10.0)

        self._start_feed(key, version, f"baton-watch-{key}", stop, run)

    # -- NATS subjects ------------------------------------------------------------

    def _consume(self, key: str, trigger: Resource) -> None:
        from functions.runtime.nats_feed import NatsFeed

        if not self.nats_url:
            return  # nothing to consume from (no NATS server configured)
        version, fed = self._fed(key, trigger)
        if fed:
            return
        self._unwatch(key)
        stop = threading.Event()
        feed = NatsFeed(self.nats_url, trigger, self.deliver, stop=stop)

        def run() -> None:
            while not stop.is_set():
                try:
                    feed.run()
                except Exception as exc:  # nats-py's errors have no common root; retry all
                    log.warning("trigger %s: NATS consumer: %s; retrying", key, exc)
                    stop.wait(2.0)

        self.nats_feeds[key] = feed
        self._start_feed(key, version, f"baton-nats-{key}", stop, run)

    # -- the feeds' threads (a cluster watch or a NATS consumer per trigger) ----------

    def _fed(self, key: str, trigger: Resource) -> tuple[Any, bool]:
        """The trigger's version, and whether a live feed already serves that version."""
        version = (trigger["metadata"].get("uid"), trigger["metadata"].get("generation"))
        current = self._watches.get(key)
        return version, current is not None and current[0] == version and current[1].is_alive()

    def _start_feed(
        self, key: str, version: Any, name: str, stop: threading.Event, run: Callable[[], None]
    ) -> None:
        thread = threading.Thread(target=run, name=name[:60], daemon=True)
        self._watches[key] = (version, thread, stop)
        thread.start()

    def _unwatch(self, key: str) -> None:
        found = self._watches.pop(key, None)
        if found is not None:
            found[2].set()
