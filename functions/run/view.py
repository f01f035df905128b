"""A read-only view of one AgentRun for a decision: its record, its transcript, the time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

import orjson

from events.envelope import RunRef
from functions.ports import Resource
from functions.run.transcript import Transcript

__all__ = ["RunView"]

Journal = Callable[[], list[tuple[str, dict[str, Any]]]]


class RunView:
    """What a decision may look at; it never writes (``edit`` hands out a private copy)."""

    def __init__(
        self, run: Resource, journal: Journal, now: float, transcript: Transcript | None = None
    ) -> None:
        self.run = run
        self.now = now
        self._journal = journal
        if transcript is not None:  # read already by the caller, for this very run
            self.__dict__["transcript"] = transcript

    @property
    def ref(self) -> RunRef:
        """The run's reference (namespace, name, uid)."""
        return RunRef.of(self.run)

    @property
    def spec(self) -> Mapping[str, Any]:
        """The run's spec as the user wrote it."""
        spec: Mapping[str, Any] = self.run.get("spec") or {}
        return spec

    @property
    def status(self) -> Mapping[str, Any]:
        """The run's status as stored (do not edit: use ``edit``)."""
        status: Mapping[str, Any] = self.run.get("status") or {}
        return status

    @property
    def phase(self) -> str:
        """The run's phase ('' before validate saw it)."""
        return str(self.status.get("phase", ""))

    @property
    def stage(self) -> str | None:
        """Where in its step the run is (functions.run.status.Stage)."""
        stage = self.status.get("stage")
        return str(stage) if stage is not None else None

    @property
    def step(self) -> int:
        """The model turn in progress."""
        return int(self.status.get("step", 0))

    @cached_property
    def transcript(self) -> Transcript:
        """The run's journal as a transcript, read on first use."""
        return Transcript(self._journal())

    def edit(self) -> dict[str, Any]:
        """A private deep copy of the status to build the decision's new status from."""
        copied: dict[str, Any] = orjson.loads(orjson.dumps(self.status))
        return copied
