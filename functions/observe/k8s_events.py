"""Run Events as core/v1 Events on the API server: what ``kubectl describe agentrun`` shows.

Deduplicated as client-go's EventRecorder does: the first occurrence creates an Event
named ``<run>.<hex time>``; the same (run, type, reason, message, component) again
patches that Event's ``count`` and ``lastTimestamp``. The cache is this process's, like
client-go's: another replica counts its own.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from functions.observe.recorder import Occurrence, RecordedEvent
from functions.ports import API_VERSION, NotFound

__all__ = ["KubernetesEvents"]

_CACHE_SIZE: Final = 4096  # client-go's LRU holds 4096 too
_MAX_MESSAGE: Final = 1024
Key = tuple[str, str, str, str, str, str]


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(value: Any) -> float:
    if not value:
        return 0.0
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


class KubernetesEvents:
    """The EventBackend on the Kubernetes API (``KubeAPI`` of the store)."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.instance = os.environ.get("HOSTNAME") or socket.gethostname()
        self._seen: OrderedDict[Key, tuple[str, int]] = OrderedDict()
        self._lock = threading.Lock()

    def write(self, batch: Sequence[Occurrence]) -> None:
        """Create or bump each Event, in order."""
        for occurrence in batch:
            self._one(occurrence)

    def _one(self, o: Occurrence) -> None:
        e = o.event
        key = (o.namespace, o.uid or o.name, e.type, e.reason, e.message, o.component)
        with self._lock:
            seen = self._seen.get(key)
        path = f"/api/v1/namespaces/{o.namespace}/events"
        if seen is not None:
            name, count = seen
            patch = {"count": count + 1, "lastTimestamp": _time(o.at)}
            try:
                self.api.request(
                    "PATCH", f"{path}/{name}", body=patch,
                    content_type="application/merge-patch+json",
                )  # fmt: skip
                self._remember(key, name, count + 1)
                return
            except NotFound:
                pass  # the Event expired (the API server's TTL): start a new one
        name = f"{o.name}.{time.time_ns():x}"
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": o.namespace},
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": "AgentRun",
                "name": o.name,
                "namespace": o.namespace,
                "uid": o.uid,
            },
            "type": e.type,
            "reason": e.reason,
            "message": e.message[:_MAX_MESSAGE],
            "count": 1,
            "firstTimestamp": _time(o.at),
            "lastTimestamp": _time(o.at),
            "source": {"component": o.component},
            "reportingComponent": o.component,
            "reportingInstance": self.instance[:128],
        }
        self.api.request("POST", path, body=body)
        self._remember(key, name, 1)

    def _remember(self, key: Key, name: str, count: int) -> None:
        with self._lock:
            self._seen[key] = (name, count)
            self._seen.move_to_end(key)
            while len(self._seen) > _CACHE_SIZE:
                self._seen.popitem(last=False)

    def read(self, namespace: str, name: str, uid: str = "") -> list[RecordedEvent]:
        """The run's Events, oldest first."""
        selector = f"involvedObject.kind=AgentRun,involvedObject.name={name}"
        if uid:
            selector += f",involvedObject.uid={uid}"
        page = self.api.request(
            "GET", f"/api/v1/namespaces/{namespace}/events", query={"fieldSelector": selector}
        )
        events = [
            RecordedEvent(
                namespace,
                name,
                str(item.get("type") or ""),
                str(item.get("reason") or ""),
                str(item.get("message") or ""),
                int(item.get("count") or 1),
                _seconds(item.get("firstTimestamp") or item.get("eventTime")),
                _seconds(item.get("lastTimestamp") or item.get("eventTime")),
                str((item.get("source") or {}).get("component") or ""),
            )
            for item in page.get("items") or []
        ]
        return sorted(events, key=lambda e: (e.first, e.last))
