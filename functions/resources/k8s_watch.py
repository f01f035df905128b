"""A watch on the Kubernetes API that resumes where it stopped, missing nothing.

One watch request lasts a server-side window; when it ends (the window, a dropped
connection) the next resumes from the last resourceVersion seen, as client-go's reflector
does. Bookmarks move that version too, so a new watch after this one ended carries on.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Collection, Iterator
from typing import Final

from functions.kube.api import KubeAPI, api_error
from functions.ports import WatchEvent

__all__ = ["KubeWatch"]

# Server-side cap of one watch request when the caller gave no timeout.
_WATCH_WINDOW: Final = 300
_WATCH_TYPES: Final = frozenset({"ADDED", "MODIFIED", "DELETED"})


class KubeWatch(Iterator[WatchEvent]):
    """A watch's events; ``resource_version`` is where a new watch carries on, missing nothing.

    It moves with every event and bookmark the API server sends (filtered-out types
    included), so ``watch(kind, since=w.resource_version)`` after this one ended sees a run
    created between the two at once, instead of starting "from now" and leaving it to sweep.
    """

    def __init__(
        self,
        api: KubeAPI,
        path: str,
        namespace: str | None,
        since: str,
        deadline: float | None,
        changes: Collection[str] | None,
    ) -> None:
        self.resource_version = since
        wanted = frozenset(changes or ())
        stream = _changes(api, path, namespace, since, deadline, self)
        self._events = (e for e in stream if not wanted or e.type in wanted)

    def __iter__(self) -> KubeWatch:
        return self

    def __next__(self) -> WatchEvent:
        return next(self._events)


def _changes(
    api: KubeAPI,
    path: str,
    namespace: str | None,
    version: str,
    deadline: float | None,
    seen: KubeWatch | None = None,
) -> Iterator[WatchEvent]:
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return
        window = _WATCH_WINDOW if remaining is None else max(1, math.ceil(remaining))
        query = {
            "watch": "true",
            "resourceVersion": version,
            "timeoutSeconds": str(window),
            "allowWatchBookmarks": "true",
        }
        # Each pass is one watch request; when it ends (server window, dropped
        # connection) the next resumes from the last version seen, losing nothing.
        for event in api.stream(path, query, remaining):
            kind_of_event = event.get("type")
            obj = event.get("object") or {}
            if kind_of_event == "ERROR":
                raise api_error(int(obj.get("code") or 500), json.dumps(obj))
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if seen is not None:
                seen.resource_version = version  # bookmarks too: a resume skips nothing
            other_namespace = (obj.get("metadata") or {}).get("namespace") not in (None, namespace)
            elsewhere = namespace is not None and other_namespace
            if kind_of_event in _WATCH_TYPES and not elsewhere:
                yield WatchEvent(kind_of_event, obj)
            if deadline is not None and time.monotonic() >= deadline:
                return
