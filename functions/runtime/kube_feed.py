"""A ``kubernetes`` trigger source outside Knative: a watch on any resource of a cluster.

What Knative's ApiServerSource does for a trigger, done in-process through a kubeconfig:
list once for the starting point (objects that existed before send nothing, as with
ApiServerSource), watch from there, and turn each change into the same CloudEvent
(``dev.knative.apiserver.resource.*``, the object as data). The last resourceVersion is
checkpointed on the trigger's status, so a restarted process resumes where it stopped;
the event id is ``<uid>/<resourceVersion>/<change>``, so a change seen twice across a
restart converges on one run. A version too old for the API server (410) starts over
from now, as client-go's reflector does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from events.apiserver import resource_event
from events.envelope import CloudEvent
from functions.kube.api import KubeAPI
from functions.ports import Expired
from functions.trigger.matching import TRIGGER_EXTENSION, trigger_key

__all__ = ["KubeFeed", "collection_path"]

log = logging.getLogger("baton.trigger.kube")
_WATCH_WINDOW: Final = 60
_CHANGES: Final = frozenset({"ADDED", "MODIFIED", "DELETED"})


def collection_path(api: KubeAPI, api_version: str, kind: str, namespace: str | None) -> str:
    """The URL path of ``kind``'s collection (in ``namespace``, or cluster-wide when None)."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    listing = api.request("GET", base)
    for resource in listing.get("resources") or []:
        if resource.get("kind") == kind and "/" not in str(resource.get("name")):
            if namespace and resource.get("namespaced"):
                return f"{base}/namespaces/{namespace}/{resource['name']}"
            return f"{base}/{resource['name']}"
    raise LookupError(f"the server has no {kind} in {api_version}")


class KubeFeed:
    """Watches one trigger's resource and hands each change to ``deliver``."""

    def __init__(
        self,
        api: KubeAPI,
        trigger: Mapping[str, Any],
        deliver: Callable[[CloudEvent], object],
        checkpoint: Callable[[str], None],
        *,
        server: str,
        stop: threading.Event,
    ) -> None:
        self.api = api
        meta, spec = trigger["metadata"], trigger["spec"]["source"]["kubernetes"]
        self.spec = spec
        self.namespace = str(meta["namespace"])
        self.key = trigger_key(self.namespace, str(meta["name"]))
        self.version: str | None = ((trigger.get("status") or {}).get("watch") or {}).get(
            "resourceVersion"
        )
        self.deliver = deliver
        self.checkpoint = checkpoint
        self.server = server
        self.stop = stop

    def _path(self) -> str:
        namespaces = self.spec.get("namespaces") or [self.namespace]
        one = namespaces[0] if len(namespaces) == 1 and namespaces[0] != "*" else None
        return collection_path(self.api, self.spec["apiVersion"], self.spec["kind"], one)

    def _query(self) -> dict[str, str]:
        labels = (self.spec.get("labelSelector") or {}).get("matchLabels") or {}
        return {"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items())} if labels else {}

    def _now_version(self, path: str) -> str:
        page = self.api.request("GET", path, query={**self._query(), "limit": "1"})
        return str(page["metadata"]["resourceVersion"])

    def event_for(self, change: str, obj: Mapping[str, Any]) -> CloudEvent:
        """The ApiServerSource event of one change, addressed to this trigger."""
        event = resource_event(change, obj, source=self.server)
        meta = obj.get("metadata") or {}
        attributes = dict(event.get_attributes())
        attributes["id"] = f"{meta.get('uid', '')}/{meta.get('resourceVersion', '')}/{change}"
        attributes[TRIGGER_EXTENSION] = self.key
        return CloudEvent(attributes, event.get_data())

    def run(self) -> None:
        """Watch until ``stop`` is set; reconnects resume from the last version seen."""
        path = self._path()
        while not self.stop.is_set():
            if self.version is None:
                self.version = self._now_version(path)
                self.checkpoint(self.version)
            query = {
                **self._query(),
                "watch": "true",
                "resourceVersion": self.version,
                "timeoutSeconds": str(_WATCH_WINDOW),
                "allowWatchBookmarks": "true",
            }
            try:
                for change in self.api.stream(path, query, 1.0):
                    self._take(change)
                    if self.stop.is_set():
                        return
            except Expired:
                log.warning("watch of %s expired at %s; resuming from now", path, self.version)
                self.version = None

    def _take(self, change: Mapping[str, Any]) -> None:
        kind = change.get("type")
        obj = change.get("object") or {}
        if kind == "ERROR":
            if int(obj.get("code") or 0) == 410:
                raise Expired(str(obj.get("message", "")))
            raise RuntimeError(f"watch error: {obj.get('message')}")
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind in _CHANGES:
            self.deliver(self.event_for(str(kind), obj))
        if version:
            self.version = str(version)
            self.checkpoint(self.version)
