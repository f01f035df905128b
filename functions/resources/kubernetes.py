"""The Store on a Kubernetes API server: baton.dev custom resources, the real thing.

``metadata.generation`` and optimistic concurrency are the API server's: a stale
``resourceVersion`` is its 409 (``Conflict``), a CRD schema violation its 422 (``Invalid``
with the field path). Writes are also checked first against the same CRDs
(``functions.resources.schema``, strict about unknown fields, as the other stores are).
``update`` writes the main resource (status ignored), ``update_status`` the status
subresource (everything else ignored): one write per call.
The journal lives in ConfigMaps owned by the run (``k8s_journal``).

    store = kubernetes_store()            # $KUBECONFIG, else in-cluster, else ~/.kube/config
    store = kubernetes_store("/path/to/kubeconfig")
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Collection, Iterator, Mapping
from typing import Any, Final

from functions.kube.api import KubeAPI, connect
from functions.kube.names import name_segment, namespace_segment
from functions.ports import (
    API_VERSION,
    GROUP,
    VERSION,
    Conflict,
    Invalid,
    NotFound,
    Resource,
    WatchEvent,
)
from functions.resources.k8s_journal import KubernetesJournal
from functions.resources.k8s_objects import ClusterObjects
from functions.resources.k8s_secrets import read_secret
from functions.resources.k8s_watch import KubeWatch
from functions.resources.schema import validate_and_default

__all__ = ["PLURALS", "KubeWatch", "KubernetesStore", "kubernetes_store"]

Journal = list[tuple[str, dict[str, Any]]]

PLURALS: Final = {
    "Model": "models",
    "Agent": "agents",
    "MCPServer": "mcpservers",
    "AgentRun": "agentruns",
    "AgentTrigger": "agenttriggers",
}


def kubernetes_store(
    kubeconfig: str | os.PathLike[str] | None = None, *, context: str | None = None
) -> KubernetesStore:
    """A store on the cluster of ``kubeconfig``, else ``$KUBECONFIG``, else in-cluster."""
    # BATON_TRIGGER_SINK (set on the trigger Service): where generated sources send events.
    sink = os.environ.get("BATON_TRIGGER_SINK")
    return KubernetesStore(KubeAPI(connect(kubeconfig, context)), trigger_sink=sink)


def _plural(kind: str) -> str:
    try:
        return PLURALS[kind]
    except KeyError:
        message = f'no matches for kind "{kind}" in version "{API_VERSION}"'
        raise Invalid(message, field="kind") from None


def _checked(obj: Resource, subresource: str | None) -> Resource:
    """A validated, defaulted copy of ``obj``, refused as the other stores refuse it.

    The API server checks the CRD schema too, but a 1.20 server drops unknown fields
    silently (no strict field validation): a typo in a status write would vanish. Checking
    here with the same CRDs makes every store answer alike (``Invalid`` naming the field).
    """
    body: Resource = json.loads(json.dumps(obj))  # the caller's dict stays as it was
    validate_and_default(body, subresource=subresource)
    return body


def _namespace(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def _addressed(obj: Resource, kind: str, namespace: str, name: str) -> Resource:
    """``obj`` when it is the object asked for; a fetched object outside ``namespace`` never is.

    Belt and braces behind the name checks: whatever path a request took, an object of
    another namespace (or kind, or name) is not handed to the caller as if it were this one.
    """
    meta = obj.get("metadata") or {}
    if (obj.get("kind"), meta.get("namespace"), meta.get("name")) != (kind, namespace, name):
        raise NotFound(f'{_plural(kind)}.{GROUP} "{name}" not found in namespace "{namespace}"')
    return obj


class KubernetesStore:
    """The Store protocol over the Kubernetes API (custom objects + ConfigMap journal)."""

    def __init__(self, api: KubeAPI, *, trigger_sink: str | None = None) -> None:
        self.api = api
        self.journal = KubernetesJournal(api)
        # The Knative objects feeding AgentTriggers (the trigger function reconciles them).
        self.cluster_objects = ClusterObjects(api, trigger_sink=trigger_sink)

    def _path(
        self, kind: str, namespace: str | None, name: str | None = None, sub: str = ""
    ) -> str:
        # Every name is checked and escaped before it enters the path: a "../other-ns/..."
        # would otherwise be resolved by the HTTP client into another namespace's object.
        base = f"/apis/{GROUP}/{VERSION}"
        if namespace is not None:
            base += f"/namespaces/{namespace_segment(namespace)}"
        path = f"{base}/{_plural(kind)}"
        if name is not None:  # "" too is refused: it would address the whole collection
            path += f"/{name_segment(name)}"
        if sub:
            path += f"/{sub}"
        return path

    def _name_of(self, obj: Mapping[str, Any]) -> str:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            raise Invalid("metadata.name: Required value: name is required", field="metadata.name")
        return str(name)

    def create(self, obj: Resource) -> Resource:
        """Create ``obj`` (``generateName`` works); the stored object with uid and version."""
        kind = str(obj.get("kind", ""))
        body = _checked({**obj, "apiVersion": obj.get("apiVersion", API_VERSION)}, None)
        result: Resource = self.api.request("POST", self._path(kind, _namespace(obj)), body=body)
        return result

    def get(self, kind: str, namespace: str, name: str) -> Resource:
        """The stored object; NotFound when absent."""
        result: Resource = self.api.request("GET", self._path(kind, namespace, name))
        return _addressed(result, kind, namespace, name)

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: Mapping[str, str] | None = None,
    ) -> list[Resource]:
        """Objects of ``kind`` in ``namespace`` (all when None) matching every label given."""
        query = {}
        if label_selector:
            query["labelSelector"] = ",".join(f"{k}={v}" for k, v in label_selector.items())
        page = self.api.request("GET", self._path(kind, namespace), query=query)
        items: list[Resource] = page.get("items") or []
        if namespace is not None:  # as for get: nothing of another namespace, whatever came back
            items = [i for i in items if (i.get("metadata") or {}).get("namespace") == namespace]
        return items

    def update(self, obj: Resource) -> Resource:
        """Replace spec and metadata; Conflict when ``metadata.resourceVersion`` is stale."""
        return self._replace(obj, "")

    def update_status(self, obj: Resource) -> Resource:
        """Replace status only; Conflict when ``metadata.resourceVersion`` is stale."""
        return self._replace(obj, "status")

    def commit(
        self, obj: Resource, journal: Mapping[str, Mapping[str, Any]] | None = None
    ) -> Resource:
        """Journal objects first (each key once, immutable), then one write of the run's status.

        The API server has no transaction across objects: a journal entry may land while
        the status write then conflicts. Entries are keyed and written once, so the retry
        (which decides again on the re-read run) finds them and writes the same status.
        A status the CRD refuses is refused before any entry is written.
        """
        body = _checked(obj, "status")
        for key, entry in (journal or {}).items():
            self.append_journal(obj, key, entry)
        return self._put(body, "status")

    def _replace(self, obj: Resource, sub: str) -> Resource:
        return self._put(_checked(obj, sub or None), sub)

    def _put(self, body: Resource, sub: str) -> Resource:
        kind, namespace, name = str(body.get("kind", "")), _namespace(body), self._name_of(body)
        try:
            result: Resource = self.api.request(
                "PUT", self._path(kind, namespace, name, sub), body=body
            )
        except Conflict as conflict:
            # A write carrying the uid of a deleted object fails the API server's uid
            # precondition (409); the contract calls a vanished object NotFound. Costs a read
            # on the conflict path only.
            try:
                self.get(kind, namespace, name)
            except NotFound as gone:
                raise gone from conflict
            raise
        return result

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete the object; its journal follows by garbage collection."""
        # Background: the object goes now, owned ConfigMaps after it (foreground would keep
        # the run visible with a deletionTimestamp until every entry is gone).
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        self.api.request("DELETE", self._path(kind, namespace, name), body=options)

    def watch(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        since: str | None = None,
        timeout: float | None = None,
        changes: Collection[str] | None = None,
    ) -> Iterator[WatchEvent]:
        """Changes after ``since`` (None: after this call) until ``timeout`` seconds pass.

        ``changes`` keeps only those types (the API server sends all; they are dropped here).

        Raises ``Expired`` when ``since`` is older than the API server's change log.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if since is None:
            # "From now" is the collection's version at the call, read here and not on the
            # first next(): a write between the call and the first read must be seen.
            page = self.api.request("GET", self._path(kind, namespace), query={"limit": "1"})
            since = str(page["metadata"]["resourceVersion"])
        return KubeWatch(self.api, self._path(kind, namespace), namespace, since, deadline, changes)

    def append_journal(self, run: Resource, key: str, entry: Mapping[str, Any]) -> bool:
        """Record ``entry`` under ``key`` for the run once; False if the key was taken."""
        if not (run.get("metadata") or {}).get("uid"):
            run = self.get("AgentRun", _namespace(run), self._name_of(run))
        return self.journal.append(run, key, entry)

    def read_journal(self, run: Resource) -> Journal:
        """The run's journal in write order as (key, entry) pairs."""
        if not (run.get("metadata") or {}).get("uid"):
            try:
                run = self.get("AgentRun", _namespace(run), self._name_of(run))
            except NotFound:
                return []
        return self.journal.read(run)

    def read_secret(self, namespace: str, name: str, key: str) -> str:
        """One value of a Secret (a Model's API key); never logged."""
        return read_secret(self.api, namespace, name, key)
