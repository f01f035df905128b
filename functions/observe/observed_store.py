"""A Store decorator that turns every AgentRun status write into Events and run metrics.

It diffs the status before and after each ``update_status`` (and ``commit``, when the
store has it): the "before" is the status this process last read at the resourceVersion
the write names (a conditional write that succeeds replaced exactly that), so the common
path costs no extra read. Journal entries are looked at too (a tool denied by policy).
Everything else is forwarded untouched, unknown attributes included.
"""

from __future__ import annotations

import builtins
import threading
from collections import OrderedDict
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Final

from functions import tracing
from functions.observe import run_events
from functions.observe.metrics import metrics
from functions.observe.recorder import EventRecorder
from functions.ports import NotFound, Resource, Store

__all__ = ["REQUEST_TYPE_ANNOTATION", "ObservedStore", "current_event_type", "current_function"]

_KIND: Final = "AgentRun"
_TERMINAL: Final = frozenset({"Succeeded", "Failed", "Cancelled"})
_CACHE_SIZE: Final = 4096

# The function handling the current event (set by the measured bus handler): an Event's
# "From" in ``kubectl describe`` names it.
current_function: ContextVar[str] = ContextVar("baton_function", default="")
# The type of the event being handled: a run route creates records the request's type.
current_event_type: ContextVar[str] = ContextVar("baton_event_type", default="")
REQUEST_TYPE_ANNOTATION: Final = "baton.dev/request-type"


class ObservedStore:
    """``inner`` with Events recorded on ``recorder`` and run metrics counted."""

    def __init__(
        self, inner: Store, recorder: EventRecorder | None, *, count_runs: bool = True
    ) -> None:
        self.inner = inner
        self.recorder = recorder
        self.count_runs = count_runs
        self._seen: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    # -- reads remember what the next write replaces -------------------------

    def get(self, kind: str, namespace: str, name: str) -> Resource:
        """The stored object (an AgentRun's status is remembered)."""
        obj = self.inner.get(kind, namespace, name)
        if kind == _KIND:
            self._remember(obj)
        return obj

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: Mapping[str, str] | None = None,
    ) -> builtins.list[Resource]:
        """As the inner store."""
        return self.inner.list(kind, namespace, label_selector)

    # -- writes ---------------------------------------------------------------

    def create(self, obj: Resource) -> Resource:
        """As the inner store; a run created for a request notes the request's type, and
        inside a trace keeps that trace (annotations)."""
        if obj.get("kind") != _KIND:
            return self.inner.create(obj)
        meta = obj.get("metadata") or {}
        notes = dict(meta.get("annotations") or {})
        request_type = current_event_type.get()
        if request_type and current_function.get() == "route":
            notes.setdefault(REQUEST_TYPE_ANNOTATION, request_type)
        if tracing.enabled():
            traceparent = tracing.current_traceparent()
            if traceparent:
                notes.setdefault(tracing.TRACEPARENT_ANNOTATION, traceparent)
        if notes != (meta.get("annotations") or {}):
            obj = {**obj, "metadata": {**meta, "annotations": notes}}
        return self.inner.create(obj)

    def update(self, obj: Resource) -> Resource:
        """As the inner store (a run's new resourceVersion is remembered)."""
        result = self.inner.update(obj)
        if result.get("kind") == _KIND:
            self._remember(result)
        return result

    def update_status(self, obj: Resource) -> Resource:
        """Write the status; record what changed."""
        if obj.get("kind") != _KIND:
            return self.inner.update_status(obj)
        before = self._before(obj)
        obj = _in_creators_trace(obj, before)
        result = self.inner.update_status(obj)
        self._changed(result, before, result.get("status") or {})
        return result

    def commit(
        self, obj: Resource, journal: Mapping[str, Mapping[str, Any]] | None = None
    ) -> Resource:
        """Status and journal in one commit; record what changed in both."""
        if obj.get("kind") != _KIND:
            return self.inner.commit(obj, journal)
        before = self._before(obj)
        obj = _in_creators_trace(obj, before)
        result = self.inner.commit(obj, journal)
        self._changed(result, before, result.get("status") or {})
        for key, entry in (journal or {}).items():
            self._journaled(result, key, entry)
        return result

    def append_journal(self, run: Resource, key: str, entry: Mapping[str, Any]) -> bool:
        """As the inner store; a notable entry (a tool denied) is an Event."""
        written = self.inner.append_journal(run, key, entry)
        if written:
            self._journaled(run, key, entry)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    # -- internals ------------------------------------------------------------

    def _remember(self, obj: Resource) -> None:
        meta = obj.get("metadata") or {}
        uid, rv = meta.get("uid"), meta.get("resourceVersion")
        if not uid or not rv:
            return
        with self._lock:
            self._seen[str(uid)] = (str(rv), obj.get("status") or {})
            self._seen.move_to_end(str(uid))
            while len(self._seen) > _CACHE_SIZE:
                self._seen.popitem(last=False)

    def _before(self, obj: Resource) -> Mapping[str, Any] | None:
        meta = obj.get("metadata") or {}
        rv = str(meta.get("resourceVersion") or "")
        with self._lock:
            seen = self._seen.get(str(meta.get("uid") or ""))
        if seen is not None and seen[0] == rv:
            return dict(seen[1])
        try:  # not read through this store: one read, on this path only
            stored = self.inner.get(_KIND, meta.get("namespace") or "default", meta["name"])
        except (NotFound, KeyError):
            return None
        if str(stored["metadata"].get("resourceVersion")) != rv:
            return None  # the write will conflict; nothing to diff
        return stored.get("status") or {}

    def _changed(
        self, run: Resource, before: Mapping[str, Any] | None, after: Mapping[str, Any]
    ) -> None:
        self._remember(run)
        if before is None:
            return
        if self.count_runs:
            self._count(run, before, after)
        if self.recorder is None:
            return
        agent = str(((run.get("spec") or {}).get("agentRef") or {}).get("name") or "")
        component = current_function.get()
        for event in run_events.status_events(before, after, agent):
            self.recorder.record(run, event, component or None)

    def _journaled(self, run: Resource, key: str, entry: Any) -> None:
        if self.recorder is None or not isinstance(entry, Mapping):
            return
        for event in run_events.journal_events(key, entry):
            self.recorder.record(run, event, current_function.get() or None)

    def _count(self, run: Resource, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        old, new = str(before.get("phase") or ""), str(after.get("phase") or "")
        if old == new:
            return
        namespace = str((run.get("metadata") or {}).get("namespace") or "default")
        if not old:
            metrics().runs_started.labels(namespace).inc()
        if new in _TERMINAL and old not in _TERMINAL:
            error = after.get("error") or {}
            reason = str(error.get("reason") or ("Completed" if new == "Succeeded" else new))
            metrics().runs_finished.labels(namespace, new, reason).inc()


def _in_creators_trace(obj: Resource, before: Mapping[str, Any] | None) -> Resource:
    """``status.traceID`` first set: the trace the run was created in, when it was traced."""
    status = obj.get("status") or {}
    if not status.get("traceID") or (before or {}).get("traceID"):
        return obj
    annotated = ((obj.get("metadata") or {}).get("annotations") or {}).get(
        tracing.TRACEPARENT_ANNOTATION
    )
    trace_id = tracing.trace_id_of(annotated)
    if trace_id is None or trace_id == status["traceID"]:
        return obj
    return {**obj, "status": {**status, "traceID": trace_id}}
