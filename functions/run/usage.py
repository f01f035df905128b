"""A model reply's spend on the run's record: tokens counted once, priced by its own Model."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from functions.budget import format_usd
from functions.ports import ModelReply, Resource, Usage
from functions.run.status import set_condition

__all__ = ["answering", "count", "usage_record"]


def answering(models: list[Resource], reply: ModelReply) -> Resource:
    """The Model resource that gave ``reply`` (the first, without failover)."""
    return next((m for m in models if m["metadata"]["name"] == reply.answered_by), models[0])


def usage_record(u: Usage) -> dict[str, int]:
    """One reply's usage in the status' words."""
    total = u.input + u.output + u.cache_read + u.cache_creation
    return {
        "input": u.input,
        "output": u.output,
        "cacheRead": u.cache_read,
        "cacheCreation": u.cache_creation,
        "total": total,
    }


def count(st: dict[str, Any], reply: ModelReply, cost: str, now: float) -> None:
    """Add the reply's tokens and cost to the status (in the commit that records the reply)."""
    usage = dict(st.get("tokenUsage") or {})
    u = reply.usage
    usage["input"] = usage.get("input", 0) + u.input
    usage["output"] = usage.get("output", 0) + u.output
    usage["cacheRead"] = usage.get("cacheRead", 0) + u.cache_read
    usage["cacheCreation"] = usage.get("cacheCreation", 0) + u.cache_creation
    usage["total"] = usage["input"] + usage["output"] + usage["cacheRead"] + usage["cacheCreation"]
    st["tokenUsage"] = usage
    # Each reply priced by the Model that gave it: a failover chain mixes prices.
    st["costEstimate"] = format_usd(Decimal(st.get("costEstimate") or 0) + Decimal(cost))
    if any(c["type"] == "ModelAvailable" for c in st.get("conditions", [])):
        set_condition(st, "ModelAvailable", True, "Replied", "the model replied", now)
    if reply.switches:
        tried = "; ".join(f"{s.model} failed ({s.reason}: {s.message})" for s in reply.switches)
        message = f"Model {reply.answered_by} answered: {tried}"
        set_condition(st, "ModelFailover", True, reply.switches[-1].reason, message, now)
