"""What the console shows of a run in a list, and which runs a list's filters keep.

A summary is small and flat (one table row); filters come from the query string and
are checked before they are used, so a bad one is a 400 that names it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from functions.ports import Resource
from functions.run.status import Phase
from functions.tools import PARENT_LABEL

__all__ = [
    "PARENT_LABEL",
    "PHASES",
    "BadFilter",
    "RunFilter",
    "count_phases",
    "newest_first",
    "summary",
]

PHASES: Final = (  # in the order a run goes through them
    Phase.PENDING,
    Phase.RUNNING,
    Phase.AWAITING_APPROVAL,
    Phase.SERVING,
    Phase.SUCCEEDED,
    Phase.FAILED,
    Phase.CANCELLED,
)
_NAME: Final = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_KEY: Final = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE: Final = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
MAX_LIMIT: Final = 1000
DEFAULT_LIMIT: Final = 200


class BadFilter(ValueError):
    """A list filter that is not valid; the message names it."""


def summary(run: Resource) -> dict[str, Any]:
    """One table row of a run."""
    meta, spec = run["metadata"], run.get("spec") or {}
    st = run.get("status") or {}
    usage = st.get("tokenUsage") or {}
    error = st.get("error") or {}
    parent = spec.get("parent") or {}
    return {
        "name": meta["name"],
        "namespace": meta.get("namespace", "default"),
        "uid": meta.get("uid", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
        "createdAt": meta.get("creationTimestamp", ""),
        "agent": (spec.get("agentRef") or {}).get("name", ""),
        "mode": spec.get("mode", "task"),
        "labels": dict(meta.get("labels") or {}),
        "parent": parent.get("runName", ""),
        "phase": st.get("phase") or Phase.PENDING,
        "stage": st.get("stage", ""),
        "step": int(st.get("step") or 0),
        "tokens": int(usage.get("total") or 0),
        "cost": str(st.get("costEstimate") or "0"),
        "toolCalls": int(st.get("toolCalls") or 0),
        "startedAt": st.get("startedAt", ""),
        "durationMs": st.get("durationMs"),
        "awaitingApproval": list(st.get("awaitingApproval") or []),
        "reason": str(error.get("reason") or ""),
        "message": str(error.get("message") or ""),
    }


@dataclass(frozen=True)
class RunFilter:
    """The list's filters; empty fields keep everything."""

    namespace: str | None = None
    phase: str | None = None
    agent: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    text: str = ""
    children: bool = False  # sub-agent runs too (hidden by default: they nest in the parent)
    limit: int = DEFAULT_LIMIT

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> RunFilter:
        """The filters in a query string; ``BadFilter`` names the one that is wrong."""
        namespace = _name(args.get("namespace"), "namespace")
        agent = _name(args.get("agent"), "agent")
        phase = (args.get("phase") or "").strip() or None
        if phase is not None and phase not in PHASES:
            raise BadFilter(f"phase {phase!r} is not one of {', '.join(PHASES)}")
        labels = []
        for term in filter(None, (t.strip() for t in (args.get("label") or "").split(","))):
            key, eq, value = term.partition("=")
            if not eq or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise BadFilter(f"label {term[:80]!r} is not key=value")
            labels.append((key, value))
        text = (args.get("q") or "").strip()[:100]
        raw_limit = args.get("limit") or str(DEFAULT_LIMIT)
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise BadFilter(f"limit {raw_limit[:20]!r} is not a number from 1 to {MAX_LIMIT}")
        children = (args.get("children") or "").lower() in ("1", "true", "yes")
        return cls(namespace, phase, agent, tuple(labels), text, children, int(raw_limit))

    def in_scope(self, row: Mapping[str, Any]) -> bool:
        """Every filter but the phase holds (what the phase counts count)."""
        if self.agent and row["agent"] != self.agent:
            return False
        if not self.children and row["parent"] and not self.text and not self.labels:
            return False
        if any(row["labels"].get(k) != v for k, v in self.labels):
            return False
        return not self.text or self.text.lower() in f"{row['name']} {row['agent']}".lower()

    def keeps(self, row: Mapping[str, Any]) -> bool:
        """Every filter holds."""
        return self.in_scope(row) and (self.phase is None or row["phase"] == self.phase)


def _name(value: str | None, what: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not _NAME.match(value):
        raise BadFilter(f"{what} {value[:80]!r} is not a valid Kubernetes name")
    return value


def count_phases(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Runs per phase, every phase named (zero included)."""
    seen = Counter(str(r["phase"]) for r in rows)
    return {phase: seen.get(phase, 0) for phase in PHASES}


def newest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows by creation time, newest first (name breaks ties)."""
    return sorted(rows, key=lambda r: (r["createdAt"], r["name"]), reverse=True)
