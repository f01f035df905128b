"""Tool policy: glob patterns for allow, deny and ask; deny wins, overrides only narrow."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any, Literal

__all__ = ["Verdict", "decide"]

Verdict = Literal["allow", "deny", "ask"]


def _matches(name: str, patterns: Any) -> bool:
    return any(fnmatchcase(name, str(p)) for p in patterns or ())


def _one(name: str, policy: Mapping[str, Any]) -> Verdict:
    if _matches(name, policy.get("deny")):
        return "deny"
    allow = policy.get("allow")
    # allow: [] allows nothing (an override narrowing to no tools); only an absent allow
    # means "every tool not denied".
    if allow is not None and not _matches(name, allow):
        return "deny"
    if _matches(name, policy.get("ask")):
        return "ask"
    return "allow"


def decide(name: str, *policies: Mapping[str, Any] | None) -> Verdict:
    """The verdict for tool ``name`` under every policy given (the agent's, the run's)."""
    verdicts = [_one(name, p) for p in policies if p]
    if "deny" in verdicts:
        return "deny"
    if "ask" in verdicts:
        return "ask"
    return "allow"
