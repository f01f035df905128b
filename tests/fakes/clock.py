"""A Clock that only moves when the test moves it."""

from __future__ import annotations

__all__ = ["START", "FakeClock"]

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z: far from the epoch, so no timestamp is falsy


class FakeClock:
    """``Clock`` with a settable now."""

    def __init__(self, now: float = START) -> None:
        self.t = now

    def now(self) -> float:
        """The current fake time in seconds since the epoch."""
        return self.t

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds``; returns the new now."""
        self.t += seconds
        return self.t
