"""Objects other than baton's on the API server: the Knative objects that feed triggers.

Create-or-replace and delete by kind, for the few kinds the trigger function reconciles
(ApiServerSource, PingSource, Trigger). Errors are the store's (``functions.kube.api``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Final

from functions.kube.api import KubeAPI
from functions.ports import Conflict, NotFound, Resource

__all__ = ["ClusterObjects"]

PLURALS: Final = {
    ("sources.knative.dev/v1", "ApiServerSource"): "apiserversources",
    ("sources.knative.dev/v1", "PingSource"): "pingsources",
    ("eventing.knative.dev/v1", "Trigger"): "triggers",
}


def _path(api_version: str, kind: str, namespace: str, name: str = "") -> str:
    plural = PLURALS[(api_version, kind)]
    base = f"/apis/{api_version}/namespaces/{namespace}/{plural}"
    return f"{base}/{name}" if name else base


class ClusterObjects:
    """Create, replace, list and delete the Knative objects of triggers."""

    def __init__(self, api: KubeAPI, *, trigger_sink: str | None = None) -> None:
        self.api = api
        # Where generated sources send events: the trigger Service (None: do not generate).
        self.trigger_sink = trigger_sink

    def apply(self, obj: Resource, *, dry_run: bool = False) -> Resource:
        """Create ``obj``, or replace the one of that name (its resourceVersion kept)."""
        meta = obj["metadata"]
        query = {"dryRun": "All"} if dry_run else None
        path = _path(obj["apiVersion"], obj["kind"], meta["namespace"])
        for _ in range(4):
            try:
                current = self.api.request("GET", f"{path}/{meta['name']}")
            except NotFound:
                try:
                    created: Resource = self.api.request("POST", path, query=query, body=obj)
                    return created
                except Conflict:
                    continue
            body = {
                **obj,
                "metadata": {**meta, "resourceVersion": current["metadata"]["resourceVersion"]},
            }
            try:
                replaced: Resource = self.api.request(
                    "PUT", f"{path}/{meta['name']}", query=query, body=body
                )
                return replaced
            except Conflict:
                continue
        raise Conflict(f"{obj['kind']} {meta['namespace']}/{meta['name']}: kept changing")

    def list(
        self, api_version: str, kind: str, namespace: str, labels: Mapping[str, str]
    ) -> list[Any]:
        """The objects of ``kind`` in ``namespace`` with ``labels``."""
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        page = self.api.request(
            "GET", _path(api_version, kind, namespace), query={"labelSelector": selector}
        )
        return list(page.get("items") or [])

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete one object (already gone is fine)."""
        with contextlib.suppress(NotFound):
            self.api.request("DELETE", _path(api_version, kind, namespace, name))
