"""The account's days and hours as UTC periods.

Invariants:
- a report's dates and hours are on the account's clock (``--timezone``); a period's
  start is the UTC instant at which that local day or hour begins;
- a day starts at local midnight, or, where a daylight-saving jump skips midnight, at
  the first instant of the day (``fold=0`` of the skipped time is exactly the jump);
- an hour that the clock skips does not exist and is refused; an hour the clock repeats
  (the autumn fall-back) is its first occurrence: a report has one row for it, and the
  contract has no two-hour period to put it in;
- the contract's ``period_seconds`` names the kind of period (3600: an hour, 86400: a day
  of the account's clock), also for the 23- and 25-hour days of a daylight-saving change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

HOUR = 3600
DAY = 86400


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """UTC start of ``day`` on the clock of ``zone``."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def hour_start(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """UTC start of ``hour`` (0-23) of ``day`` on the clock of ``zone``; ValueError for
    an hour the clock skips."""
    local = datetime.combine(day, time(hour), tzinfo=zone)
    start = local.astimezone(UTC)
    if start.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise ValueError(f"{day.isoformat()} {hour:02d}:00 does not exist in {zone.key}")
    return start
