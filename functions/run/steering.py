"""What a person asks of a run through its annotations: cancel it, approve or reject tool calls.

One path for every front end (``baton cancel``/``baton approve``, the web console,
``kubectl annotate``): the request is an annotation merged into the run, and sweep
turns it into ``run.cancelled`` / ``tool.approved`` in whatever process it runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from functions.ports import Conflict, Resource, Store

__all__ = ["NothingToDecide", "RunKeptChanging", "annotate", "cancel", "decide"]

_CONFLICT_RETRIES = 10

# Annotations a person (baton cancel/approve, the console, or kubectl annotate) sets on an
# AgentRun; sweep turns them into the run's record.
CANCEL: Final = "baton.dev/cancel"
APPROVE: Final = "baton.dev/approve"
REJECT: Final = "baton.dev/reject"
APPROVED_BY: Final = "baton.dev/decided-by"


class RunKeptChanging(Exception):
    """Every attempt to annotate the run met a newer version of it."""


class NothingToDecide(ValueError):
    """The named tool calls are not among those the run waits on."""


def annotate(store: Store, namespace: str, name: str, notes: Mapping[str, str]) -> Resource:
    """Merge ``notes`` into the run's annotations, re-reading on conflict; the run as written."""
    for _ in range(_CONFLICT_RETRIES):
        run = store.get("AgentRun", namespace, name)
        meta = dict(run["metadata"])
        meta["annotations"] = {**(meta.get("annotations") or {}), **notes}
        try:
            return store.update({**run, "metadata": meta})
        except Conflict:
            continue
    raise RunKeptChanging(f"agentrun {namespace}/{name} kept changing; try again")


def cancel(store: Store, namespace: str, name: str, by: str) -> Resource:
    """Ask for the run to be cancelled (``by`` is recorded as who asked)."""
    return annotate(store, namespace, name, {CANCEL: by})


def decide(
    store: Store, run: Resource, calls: Iterable[str], *, reject: bool, by: str
) -> tuple[Resource, list[str]]:
    """Approve (or reject) tool calls ``run`` waits on, every one when ``calls`` is empty.

    Raises ``NothingToDecide`` naming what the run waits on when a call is not among them.
    """
    waiting = list((run.get("status") or {}).get("awaitingApproval") or [])
    chosen = list(calls) or waiting
    unknown = sorted(set(chosen) - set(waiting))
    if not chosen or unknown:
        raise NothingToDecide(
            f"{run['metadata']['name']} waits on {waiting or 'no tool calls'}"
            + (f", not {unknown}" if unknown else "")
        )
    key = REJECT if reject else APPROVE
    current = (run["metadata"].get("annotations") or {}).get(key, "")
    ids = ",".join(sorted({*filter(None, current.split(",")), *chosen}))
    meta = run["metadata"]
    written = annotate(
        store, meta.get("namespace", "default"), meta["name"], {key: ids, APPROVED_BY: by}
    )
    return written, chosen
