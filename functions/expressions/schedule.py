"""Cron schedules with a time zone (cronsim), and which fire is due now.

A fire is identified by its scheduled time, so a timer that restarts, or two timers,
fire it once: the trigger's status keeps ``lastScheduleTime`` and the run's name comes
from the fire's time. A fire missed while nothing ran still happens when it is at most
``startingDeadlineSeconds`` late (as a CronJob's); older ones are skipped, not replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["DEFAULT_GRACE", "Schedule", "ScheduleError", "compile_schedule"]

DEFAULT_GRACE: Final = 300.0
# The macros cron users write; cronsim takes the five fields only.
_MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class ScheduleError(ValueError):
    """A cron expression or time zone that cannot be used."""


@dataclass(frozen=True)
class Schedule:
    """A compiled cron schedule in a time zone."""

    cron: str
    zone: Any
    grace: float = DEFAULT_GRACE

    def next_after(self, ts: float) -> float:
        """The first fire time strictly after ``ts`` (seconds since the epoch)."""
        from cronsim import CronSim

        start = datetime.fromtimestamp(ts, self.zone)
        return float(next(iter(CronSim(self.cron, start))).timestamp())

    def due(self, anchor: float, now: float) -> tuple[float | None, int]:
        """The fire to start now (or None) and how many fires were skipped as too late.

        ``anchor`` is the last fire, or the trigger's creation for a new one.
        """
        fire = self.next_after(anchor)
        if fire > now:
            return None, 0
        skipped = 0
        if now - fire > self.grace:
            # Down longer than the grace: jump to the window instead of walking every fire.
            skipped = 1
            fire = self.next_after(now - self.grace - 1)
            if fire > now:
                return None, skipped
        while (following := self.next_after(fire)) <= now:
            fire, skipped = following, skipped + 1
        return fire, skipped


def compile_schedule(cron: str, time_zone: str | None, grace: float | None = None) -> Schedule:
    """Check ``cron`` and ``time_zone`` now; ``ScheduleError`` says which is wrong."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from cronsim import CronSim, CronSimError

    expression = _MACROS.get(cron.strip(), cron.strip())
    try:
        zone: Any = ZoneInfo(time_zone) if time_zone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {time_zone!r}") from None
    try:
        CronSim(expression, datetime.now(zone))
    except CronSimError as exc:
        raise ScheduleError(f"cron {cron!r}: {exc}") from None
    return Schedule(expression, zone, DEFAULT_GRACE if grace is None else float(grace))
