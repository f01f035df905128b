"""An in-memory Store with the API server's write semantics and no schema validation.

What it keeps honest: resourceVersion preconditions (stale -> Conflict), NotFound,
create drops status, ``update`` never touches status and bumps generation when
spec changes, ``update_status`` touches nothing else, a no-op write keeps the
resourceVersion, a journal keyed once per run uid and key (gone with the run).
``fail_next`` makes the next call of a method raise, to stand in for a crash.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from functions.ports import Conflict, Invalid, NotFound, Resource, WatchEvent
from functions.run.status import rfc3339
from tests.fakes.clock import FakeClock

__all__ = ["FakeStore"]

Key = tuple[str, str, str]


class FakeStore:
    """``Store`` over dicts; every object handed out is a copy."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.objects: dict[Key, Resource] = {}
        self.journal: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.changes: list[tuple[int, WatchEvent]] = []
        self.status_writes = 0  # successful update_status calls that changed something
        self.commits = 0  # commit calls that passed the resourceVersion check
        self._rv = itertools.count(1)
        self._faults: dict[str, list[BaseException]] = defaultdict(list)

    def fail_next(self, method: str, error: BaseException) -> None:
        """Make the next call of ``method`` raise ``error`` (nothing is written)."""
        self._faults[method].append(error)

    def _fault(self, method: str) -> None:
        if self._faults[method]:
            raise self._faults[method].pop(0)

    def _record(self, change: Any, obj: Resource) -> Resource:
        rv = next(self._rv)
        obj["metadata"]["resourceVersion"] = str(rv)
        self.changes.append((rv, WatchEvent(change, copy.deepcopy(obj))))
        return copy.deepcopy(obj)

    def _stored(self, obj: Resource) -> tuple[Key, Resource]:
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace") or "default", meta["name"])
        if key not in self.objects:
            raise NotFound(f"{key[0]} {key[1]}/{key[2]} not found")
        stored = self.objects[key]
        if not meta.get("resourceVersion"):
            raise Invalid(
                "metadata.resourceVersion must be specified", field="metadata.resourceVersion"
            )
        if meta["resourceVersion"] != stored["metadata"]["resourceVersion"] or (
            meta.get("uid") and meta["uid"] != stored["metadata"]["uid"]
        ):
            raise Conflict(f"{key[0]} {key[1]}/{key[2]}: the object has been modified")
        return key, stored

    def create(self, obj: Resource) -> Resource:
        """Store a new object (status dropped); Conflict when the name is taken."""
        self._fault("create")
        new = copy.deepcopy(obj)
        new.pop("status", None)
        meta = new["metadata"]
        meta["namespace"] = meta.get("namespace") or "default"
        key = (new["kind"], meta["namespace"], meta["name"])
        if key in self.objects:
            raise Conflict(f"{key[0]} {key[1]}/{key[2]} already exists")
        # Whole seconds, as the API server (and the SQLite store) write it.
        created = rfc3339(float(int(self.clock.now()))).replace(".000Z", "Z")
        meta.update(uid=str(uuid.uuid4()), generation=1, creationTimestamp=created)
        self.objects[key] = new
        return self._record("ADDED", new)

    def get(self, kind: str, namespace: str, name: str) -> Resource:
        """A copy of the object, or NotFound."""
        self._fault("get")
        try:
            return copy.deepcopy(self.objects[(kind, namespace, name)])
        except KeyError:
            raise NotFound(f"{kind} {namespace}/{name} not found") from None

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: Mapping[str, str] | None = None,
    ) -> list[Resource]:
        """Objects of ``kind`` by namespace and name."""
        out = []
        for (k, ns, _), obj in sorted(self.objects.items()):
            labels = obj["metadata"].get("labels") or {}
            if (
                k == kind
                and namespace in (None, ns)
                and all(labels.get(n) == v for n, v in (label_selector or {}).items())
            ):
                out.append(copy.deepcopy(obj))
        return out

    def update(self, obj: Resource) -> Resource:
        """Write spec and metadata; status is kept; generation moves with spec."""
        self._fault("update")
        key, stored = self._stored(obj)
        new = copy.deepcopy(obj)
        for server_field in ("uid", "creationTimestamp", "generation", "namespace"):
            new["metadata"][server_field] = stored["metadata"][server_field]
        if new.get("spec") != stored.get("spec"):
            new["metadata"]["generation"] += 1
        new.pop("status", None)
        if "status" in stored:
            new["status"] = stored["status"]
        if new == stored:
            return copy.deepcopy(stored)
        self.objects[key] = new
        return self._record("MODIFIED", new)

    def update_status(self, obj: Resource) -> Resource:
        """Write status only."""
        self._fault("update_status")
        key, stored = self._stored(obj)
        if obj.get("status") == stored.get("status"):
            return copy.deepcopy(stored)
        new = copy.deepcopy(stored)
        new["status"] = copy.deepcopy(obj.get("status"))
        self.objects[key] = new
        self.status_writes += 1
        return self._record("MODIFIED", new)

    def commit(
        self, obj: Resource, journal: Mapping[str, Mapping[str, Any]] | None = None
    ) -> Resource:
        """Status and journal entries as one change (nothing on Conflict)."""
        self._fault("commit")
        _, stored = self._stored(obj)  # raises Conflict before anything is written
        uid = stored["metadata"]["uid"]
        for key, entry in (journal or {}).items():
            self.journal[uid].setdefault(key, copy.deepcopy(dict(entry)))
        self.commits += 1
        return self.update_status(obj)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Remove the object and its journal; NotFound when it is not there."""
        self._fault("delete")
        gone = self.objects.pop((kind, namespace, name), None)
        if gone is None:
            raise NotFound(f"{kind} {namespace}/{name} not found")
        self.journal.pop(gone["metadata"]["uid"], None)
        self._record("DELETED", gone)

    def watch(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        since: str | None = None,
        timeout: float | None = None,
        changes: Collection[str] | None = None,
    ) -> Iterator[WatchEvent]:
        """Changes after ``since`` ("0": current objects first); ends when caught up."""
        cursor = int(since) if since not in (None, "", "0") else len(self.changes)
        initial = (
            [WatchEvent("ADDED", o) for o in self.list(kind, namespace)] if since == "0" else []
        )

        def follow() -> Iterator[WatchEvent]:
            yield from initial
            for rv, change in list(self.changes):
                obj = change.object
                if (
                    rv > cursor
                    and obj["kind"] == kind
                    and namespace in (None, obj["metadata"]["namespace"])
                    and (not changes or change.type in changes)
                ):
                    yield WatchEvent(change.type, copy.deepcopy(obj))

        return follow()

    def append_journal(self, run: Resource, key: str, entry: Mapping[str, Any]) -> bool:
        """Record ``entry`` under ``key`` once; False if taken; NotFound if the run is gone."""
        self._fault("append_journal")
        uid = run["metadata"]["uid"]
        if not any(o["metadata"]["uid"] == uid for o in self.objects.values()):
            raise NotFound(f"no run with uid {uid}")
        if key in self.journal[uid]:
            return False
        self.journal[uid][key] = copy.deepcopy(dict(entry))
        return True

    def read_journal(self, run: Resource) -> list[tuple[str, dict[str, Any]]]:
        """The run's journal in write order."""
        return copy.deepcopy(list(self.journal.get(run["metadata"]["uid"], {}).items()))
