"""Building and reading baton's CloudEvents: deterministic ids, run reference, extensions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.v1.event import CloudEvent

from events.errors import MalformedEvent

__all__ = [
    "JSON",
    "SOURCE_PREFIX",
    "CloudEvent",
    "RunRef",
    "data_of",
    "dedupe_key",
    "event_id",
    "make_event",
    "run_event",
    "run_ref_of",
    "run_source",
    "step_of",
]

JSON: Final = "application/json"
SOURCE_PREFIX: Final = "/baton/runs/"
BATON_PREFIX: Final = "dev.baton."
RUN_EXTENSION: Final = "batonrun"
STEP_EXTENSION: Final = "batonstep"
TRACEPARENT: Final = "traceparent"


@dataclass(frozen=True)
class RunRef:
    """Which AgentRun an event is about."""

    namespace: str
    name: str
    uid: str

    @classmethod
    def of(cls, run: Mapping[str, Any]) -> RunRef:
        """The reference of an AgentRun resource."""
        meta = run["metadata"]
        return cls(meta.get("namespace", "default"), meta["name"], meta.get("uid", ""))

    def to_data(self) -> dict[str, str]:
        """The ``run`` member of event data."""
        return {"namespace": self.namespace, "name": self.name, "uid": self.uid}

    @property
    def key(self) -> str:
        """``namespace/name``, the value of the ``batonrun`` extension."""
        return f"{self.namespace}/{self.name}"


def event_id(run: RunRef, step: int, type_: str, key: str | None = None) -> str:
    """``<run uid>/<step>/<type>[/<key>]``: the one id of what a run needs at ``step``.

    The type is in the id, so two kinds of event of one step never collide; the
    emitter is not, so normal flow, a redelivery, sweep and a restart that publish the
    same need publish the same id, and every bus keeps the first (source + id).
    """
    base = f"{run.uid}/{step}/{type_.removeprefix(BATON_PREFIX)}"
    return f"{base}/{key}" if key else base


def run_source(run: RunRef) -> str:
    """The CloudEvents ``source`` of every event about ``run``: the run itself."""
    return f"{SOURCE_PREFIX}{run.namespace}/{run.name}"


def make_event(
    type_: str,
    source: str,
    data: Mapping[str, Any] | None,
    *,
    id_: str | None = None,
    subject: str | None = None,
    extensions: Mapping[str, Any] | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    """A structured-JSON CloudEvent with ``datacontenttype`` always set."""
    attributes: dict[str, Any] = {
        "type": type_,
        "source": source,
        "specversion": "1.0",
        "datacontenttype": JSON,
        "time": time or datetime.now(UTC),
    }
    if id_ is not None:
        attributes["id"] = id_
    if subject is not None:
        attributes["subject"] = subject
    for key, value in (extensions or {}).items():
        if value is not None and value != "":
            attributes[key] = value
    return CloudEvent(attributes, dict(data) if data is not None else None)


def run_event(
    type_: str,
    run: RunRef,
    step: int,
    data: Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """An event about one run at ``step``; ``key`` tells apart several of one type and step."""
    payload: dict[str, Any] = {"run": run.to_data(), "step": step}
    payload.update(data or {})
    return make_event(
        type_,
        run_source(run),
        payload,
        id_=event_id(run, step, type_, key),
        subject=run.name,
        extensions={RUN_EXTENSION: run.key, STEP_EXTENSION: str(step), TRACEPARENT: traceparent},
    )


def dedupe_key(event: BaseCloudEvent) -> str:
    """An event's identity as CloudEvents defines it: ``source`` and ``id`` together."""
    return f"{event.get_source()}\n{event.get_id()}"


def data_of(event: BaseCloudEvent) -> dict[str, Any]:
    """The event's data as a JSON object, or ``MalformedEvent`` naming what is wrong."""
    data = event.get_data()
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data) if data else None
        except ValueError as exc:
            raise MalformedEvent(f"event {event.get_id()}: data is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MalformedEvent(
            f"event {event.get_id()} ({event.get_type()}): data must be a JSON object"
        )
    return data


def run_ref_of(event: BaseCloudEvent) -> RunRef:
    """The run a baton event is about (``data.run``)."""
    run = data_of(event).get("run")
    if not isinstance(run, dict) or not run.get("name"):
        raise MalformedEvent(f"event {event.get_id()} ({event.get_type()}): data.run.name missing")
    return RunRef(str(run.get("namespace") or "default"), str(run["name"]), str(run.get("uid", "")))


def step_of(event: BaseCloudEvent) -> int:
    """The step a baton event belongs to (``data.step``)."""
    step = data_of(event).get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise MalformedEvent(
            f"event {event.get_id()} ({event.get_type()}): data.step must be an integer >= 0"
        )
    return step
