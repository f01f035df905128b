"""The run list, live: a server-sent event stream of a snapshot, then every change.

The watch is opened before the snapshot is listed (both stores take a watch's starting
point at the call), so no change falls between them. Each change carries the phase
counts, kept here from the snapshot on, so the page never recounts. A quiet spell
sends a comment line, which also finds out a browser that went away.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

from functions.console.views import RunFilter, count_phases, newest_first, summary
from functions.ports import Resource, Store, StoreError

__all__ = ["KEEPALIVE_SECONDS", "list_runs", "stream_runs"]

KEEPALIVE_SECONDS: Final = 15.0


def _runs(store: Store, flt: RunFilter) -> list[Resource]:
    """The stored runs the namespace and labels select (the store filters those itself)."""
    return store.list("AgentRun", flt.namespace, dict(flt.labels) or None)


def list_runs(store: Store, flt: RunFilter) -> dict[str, Any]:
    """The runs the filter keeps (newest first, at most ``flt.limit``) and the phase counts."""
    rows = [summary(r) for r in _runs(store, flt)]
    scoped = [r for r in rows if flt.in_scope(r)]
    kept = newest_first([r for r in scoped if flt.keeps(r)])
    return {
        "runs": kept[: flt.limit],
        "total": len(kept),
        "counts": count_phases(scoped),
    }


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _last_version(objects: list[Resource]) -> str | None:
    versions = [str(o["metadata"].get("resourceVersion", "")) for o in objects]
    numeric = [int(v) for v in versions if v.isdigit()]
    return str(max(numeric)) if numeric else None


def stream_runs(
    store: Store, flt: RunFilter, *, keepalive: float = KEEPALIVE_SECONDS
) -> Iterator[str]:
    """``snapshot`` (as ``list_runs``), then a ``change`` per run added, modified or deleted."""
    watch = store.watch("AgentRun", flt.namespace, timeout=keepalive)
    snapshot = list_runs(store, flt)
    yield _sse("snapshot", snapshot)
    phases = {
        r["uid"]: r["phase"] for r in (summary(o) for o in _runs(store, flt)) if flt.in_scope(r)
    }
    since: str | None = None
    while True:
        seen: list[Resource] = []
        try:
            for change in watch:
                seen.append(change.object)
                row = summary(change.object)
                was = row["uid"] in phases
                if change.type == "DELETED" or not flt.in_scope(row):
                    phases.pop(row["uid"], None)
                    if not was:
                        continue  # never shown by this filter: nothing to tell
                else:
                    phases[row["uid"]] = row["phase"]
                yield _sse(
                    "change",
                    {
                        "type": change.type,
                        "run": row,
                        "match": change.type != "DELETED" and flt.keeps(row),
                        "counts": count_phases({"phase": p} for p in phases.values()),
                    },
                )
        except StoreError as exc:  # the change log moved past us (410): start over
            yield _sse("reset", {"reason": str(exc)[:200]})
            return
        since = _last_version(seen) or since or getattr(watch, "resource_version", None)
        yield ": keepalive\n\n"
        watch = store.watch("AgentRun", flt.namespace, since=since, timeout=keepalive)
