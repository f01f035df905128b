"""Cost estimates are exact decimal arithmetic over the four token counters."""

from __future__ import annotations

from decimal import Decimal

from functions.models.pricing import cost_usd
from functions.ports import Usage

SONNET = {
    "inputPerMTok": 3,
    "outputPerMTok": 15,
    "cacheReadPerMTok": 0.3,
    "cacheWritePerMTok": 3.75,
}


def test_status_totals_priced_exactly() -> None:
    """1,234 in, 567 out, 10,000 cache-read, 2,048 cache-write at Sonnet prices."""
    totals = {
        "input": 1234,
        "output": 567,
        "total": 13849,
        "cacheRead": 10000,
        "cacheCreation": 2048,
    }
    # 1234*3 + 567*15 + 10000*0.3 + 2048*3.75 = 3702 + 8505 + 3000 + 7680 = 22887 per MTok
    assert cost_usd(totals, SONNET) == "0.022887"


def test_usage_dataclass_priced_like_totals() -> None:
    """A ports.Usage prices the same as the equivalent status dict."""
    usage = Usage(input=1234, output=567, cache_read=10000, cache_creation=2048)
    assert cost_usd(usage, SONNET) == "0.022887"


def test_floats_price_as_written() -> None:
    """0.1 per MTok times 3 tokens is 0.0000003, not a binary-float approximation."""
    assert cost_usd({"input": 3}, {"inputPerMTok": 0.1}) == "0.0000003"
    assert Decimal(cost_usd({"output": 7}, {"outputPerMTok": "0.3"})) == Decimal("0.0000021")


def test_cache_prices_default_from_input_price() -> None:
    """Without cache prices, reads cost 0.1x and writes 1.25x the input price."""
    pricing = {"inputPerMTok": 3, "outputPerMTok": 15}
    assert cost_usd({"cacheRead": 1_000_000}, pricing) == "0.3"
    assert cost_usd({"cacheCreation": 1_000_000}, pricing) == "3.75"


def test_no_pricing_costs_zero() -> None:
    """A Model without pricing estimates 0."""
    assert cost_usd({"input": 10, "output": 10}, None) == "0"
    assert cost_usd({"input": 10}, {}) == "0"


def test_large_totals_stay_exact() -> None:
    """Billions of tokens keep every digit, with no exponent in the text."""
    totals = {"input": 7_000_000_001, "output": 3}
    assert cost_usd(totals, {"inputPerMTok": 15, "outputPerMTok": 75}) == "105000.00024"
