"""The per-run journal on Kubernetes: one immutable ConfigMap per entry, owned by the AgentRun.

Kept out of the AgentRun so the transcript is not bounded by the run's own object size and a
step's write of the run stays small. Each entry is one create (no read-modify-write), so
appending is one API write and concurrent writers never conflict with each other:

- the name is ``<run name>-j-<hash(run uid, key)>``, so appending a key twice is an
  AlreadyExists (409) and ``append`` answers False without reading first;
- an ownerReference to the run's uid lets the garbage collector delete the entries with it;
- the label ``baton.dev/run-uid`` selects one incarnation of a run (a re-created run with the
  same name does not see the old run's entries, still waiting for garbage collection);
- order is the API server's: the resourceVersion at creation (etcd's revision, increasing
  cluster-wide and immune to clock skew between replicas); ``baton.dev/journal-seq``
  (the writer's clock in ns) breaks ties and orders where resourceVersions are not numbers.

Reads are quorum lists by label: always complete (a transition must see the entry another
replica wrote just before), but the API server reads every ConfigMap of the namespace from
etcd to filter them (measured on envtest: 3 ms for a run's 40 entries alone, 90 ms with
2,000 entries of other runs beside them). Serving them from the watch cache
(``resourceVersionMatch=NotOlderThan``) would be fast, but a 1.20 API server's ConfigMap
cache only catches up to a newer AgentRun version on the next ConfigMap event, so such a
read can stall for seconds. Pruning finished runs (history limits) bounds the namespace.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any, Final

from functions.kube.api import KubeAPI
from functions.kube.names import namespace_segment
from functions.ports import API_VERSION, Conflict, Invalid, Resource

__all__ = [
    "MAX_ENTRY_BYTES",
    "RUN_LABEL",
    "RUN_UID_LABEL",
    "SEQ_ANNOTATION",
    "KubernetesJournal",
    "journal_name",
]

RUN_LABEL: Final = "baton.dev/run"
RUN_UID_LABEL: Final = "baton.dev/run-uid"
SEQ_ANNOTATION: Final = "baton.dev/journal-seq"
# A ConfigMap holds at most 1 MiB of data (etcd's own request limit is 1.5 MiB); the rest of
# the budget is metadata. Callers bound tool output long before this.
MAX_ENTRY_BYTES: Final = 1_000_000
MAX_NAME: Final = 253
_DIGEST_CHARS: Final = 20  # 80 bits: no collision among one run's keys in practice
_LABEL_VALUE_MAX: Final = 63
_PAGE: Final = "250"


def journal_name(run_name: str, run_uid: str, key: str) -> str:
    """The ConfigMap name for ``key`` of one run: deterministic, a valid name, <= 253 chars."""
    digest = hashlib.sha256(f"{run_uid}\0{key}".encode()).hexdigest()[:_DIGEST_CHARS]
    suffix = f"-j-{digest}"
    # A cut name must still end in an alphanumeric before the suffix (RFC 1123 subdomain).
    prefix = run_name[: MAX_NAME - len(suffix)].rstrip(".-")
    return f"{prefix}{suffix}"


def _order(configmap: Mapping[str, Any]) -> tuple[int, int, str]:
    meta = configmap["metadata"]
    version = str(meta.get("resourceVersion", ""))
    seq = str((meta.get("annotations") or {}).get(SEQ_ANNOTATION, "0"))
    return (
        int(version) if version.isdigit() else 0,
        int(seq) if seq.isdigit() else 0,
        str(meta["name"]),
    )


class KubernetesJournal:
    """Append-once, read-in-order journal entries of AgentRuns as ConfigMaps."""

    def __init__(self, api: KubeAPI) -> None:
        self.api = api

    def append(self, run: Resource, key: str, entry: Mapping[str, Any]) -> bool:
        """Create the entry's ConfigMap; False when ``key`` was already recorded."""
        meta = run["metadata"]
        namespace = namespace_segment(meta.get("namespace") or "default")
        uid = str(meta.get("uid") or "")
        if not uid:
            raise Invalid("the run has no metadata.uid; read it before journaling", field="uid")
        payload = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
        size = len(payload.encode()) + len(key.encode())
        if size > MAX_ENTRY_BYTES:
            raise Invalid(
                f"journal entry {key!r} is {size} bytes; at most {MAX_ENTRY_BYTES} fit a ConfigMap",
                field="entry",
            )
        labels = {RUN_UID_LABEL: uid}
        if len(meta["name"]) <= _LABEL_VALUE_MAX:
            labels[RUN_LABEL] = meta["name"]  # for people (`kubectl get cm -l`); may not fit
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": journal_name(meta["name"], uid, key),
                "namespace": namespace,
                "labels": labels,
                "annotations": {SEQ_ANNOTATION: str(time.time_ns())},
                "ownerReferences": [
                    {
                        "apiVersion": run.get("apiVersion", API_VERSION),
                        "kind": run.get("kind", "AgentRun"),
                        "name": meta["name"],
                        "uid": uid,
                    }
                ],
            },
            "immutable": True,
            "data": {"key": key, "entry": payload},
        }
        try:
            self.api.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body=body)
        except Conflict:
            return False
        return True

    def read(self, run: Resource) -> list[tuple[str, dict[str, Any]]]:
        """The run's entries in the order they were written, as (key, entry)."""
        meta = run["metadata"]
        namespace = namespace_segment(meta.get("namespace") or "default")
        uid = str(meta.get("uid") or "")
        if not uid:
            return []
        path = f"/api/v1/namespaces/{namespace}/configmaps"
        query = {"labelSelector": f"{RUN_UID_LABEL}={uid}", "limit": _PAGE}
        items: list[dict[str, Any]] = []
        while True:
            page = self.api.request("GET", path, query=query)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
            query = {**query, "continue": token}
        items.sort(key=_order)
        return [(str(i["data"]["key"]), json.loads(i["data"]["entry"])) for i in items]
