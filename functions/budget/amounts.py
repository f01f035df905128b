"""What a budget is and what a model call may spend: tokens, USD and time, as plain values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from functions.run.status import parse_duration

__all__ = ["BYTES_PER_TOKEN", "Amount", "Budget", "format_usd", "prompt_tokens_bound"]

# A call's prompt is counted before the provider tokenizes it: 3 bytes a token is above what
# English prose and code take (about 4), so the reservation errs on the safe side.
BYTES_PER_TOKEN: Final = 3


@dataclass(frozen=True)
class Amount:
    """Tokens and USD spent, reserved or allowed."""

    tokens: int = 0
    cost: Decimal = Decimal(0)

    def __add__(self, other: Amount) -> Amount:
        return Amount(self.tokens + other.tokens, self.cost + other.cost)

    def record(self) -> dict[str, Any]:
        """As stored in status (cost as a decimal string, like costEstimate)."""
        return {"tokens": self.tokens, "costUSD": format_usd(self.cost)}

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> Amount:
        """Read a stored ``{tokens, costUSD}``."""
        data = data or {}
        return cls(int(data.get("tokens") or 0), Decimal(str(data.get("costUSD") or 0)))


@dataclass(frozen=True)
class Budget:
    """Limits on a run and everything it starts; ``None`` means no limit on that dimension."""

    tokens: int | None = None
    cost: Decimal | None = None
    duration: float | None = None  # seconds

    @property
    def limited(self) -> bool:
        """Whether any dimension is limited."""
        return self.tokens is not None or self.cost is not None or self.duration is not None

    def narrowed(self, other: Budget) -> Budget:
        """The tighter of the two on each dimension."""
        return Budget(
            _min(self.tokens, other.tokens),
            _min(self.cost, other.cost),
            _min(self.duration, other.duration),
        )

    def spec(self) -> dict[str, Any]:
        """As written in a spec's ``budget`` (duration in whole or fractional seconds)."""
        out: dict[str, Any] = {}
        if self.tokens is not None:
            out["tokens"] = self.tokens
        if self.cost is not None:
            out["costUSD"] = float(self.cost)
        if self.duration is not None:
            out["duration"] = f"{max(self.duration, 0.001):.3f}".rstrip("0").rstrip(".") + "s"
        return out

    @classmethod
    def of(cls, spec: Mapping[str, Any] | None) -> Budget:
        """Read a spec's ``budget`` {tokens, costUSD, duration (a Go duration)}."""
        spec = spec or {}
        return cls(
            None if spec.get("tokens") is None else int(spec["tokens"]),
            None if spec.get("costUSD") is None else Decimal(str(spec["costUSD"])),
            parse_duration(spec.get("duration")),
        )


def _min(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def prompt_tokens_bound(prompt_bytes: int) -> int:
    """An estimate, on the high side, of the tokens of a prompt of this many UTF-8 bytes."""
    return math.ceil(prompt_bytes / BYTES_PER_TOKEN)


def format_usd(value: Decimal) -> str:
    """Fixed-point text without exponent or trailing zeros (``"0"`` for zero)."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
