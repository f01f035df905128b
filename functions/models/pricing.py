"""Cost estimates from token counts and a Model's pricing, in exact decimal arithmetic."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from functions.ports import Usage

__all__ = ["CACHE_READ_FACTOR", "CACHE_WRITE_FACTOR", "cost_usd"]

# Anthropic's published ratios to the input price, used when the Model gives no cache prices.
CACHE_READ_FACTOR: Final = Decimal("0.1")
CACHE_WRITE_FACTOR: Final = Decimal("1.25")
_PER: Final = Decimal(1_000_000)

# status.tokenUsage field -> Usage field, so either shape can be priced.
_TOTALS_FIELDS: Final = {
    "input": "input",
    "output": "output",
    "cacheRead": "cache_read",
    "cacheCreation": "cache_creation",
}


def cost_usd(usage_totals: Usage | Mapping[str, Any], pricing: Mapping[str, Any] | None) -> str:
    """USD cost of the tokens as a plain decimal string (``"0"`` without pricing)."""
    if not pricing:
        return "0"
    tokens = _tokens(usage_totals)
    prices = pricing
    input_price = _price(prices, "inputPerMTok")
    rates = {
        "input": input_price,
        "output": _price(prices, "outputPerMTok"),
        "cache_read": _price(prices, "cacheReadPerMTok", input_price * CACHE_READ_FACTOR),
        "cache_creation": _price(prices, "cacheWritePerMTok", input_price * CACHE_WRITE_FACTOR),
    }
    total = sum((Decimal(tokens[k]) * rate for k, rate in rates.items()), Decimal(0)) / _PER
    return _plain(total)


def _tokens(usage: Usage | Mapping[str, Any]) -> dict[str, int]:
    if isinstance(usage, Usage):
        return {f: getattr(usage, f) for f in _TOTALS_FIELDS.values()}
    return {f: int(usage.get(k) or 0) for k, f in _TOTALS_FIELDS.items()}


def _price(prices: Mapping[str, Any], name: str, default: Decimal = Decimal(0)) -> Decimal:
    value = prices.get(name)
    # str() first: a float such as 0.3 must price as 0.3, not 0.29999999999999998889...
    return default if value is None or value == "" else Decimal(str(value))


def _plain(value: Decimal) -> str:
    """Fixed-point text without exponent or trailing zeros (``1.5E-7`` -> ``0.00000015``)."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
