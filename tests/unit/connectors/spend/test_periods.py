"""The account's days and hours as UTC periods, daylight-saving changes included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from funnelwatch.connectors.spend.periods import day_start, hour_start

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_day_starts_at_local_midnight_in_utc() -> None:
    assert day_start(date(2025, 6, 2), BERLIN) == datetime(2025, 6, 1, 22, 0, tzinfo=UTC)
    assert day_start(date(2025, 1, 2), BERLIN) == datetime(2025, 1, 1, 23, 0, tzinfo=UTC)
    assert day_start(date(2025, 6, 2), ZoneInfo("Asia/Kathmandu")) == datetime(
        2025, 6, 1, 18, 15, tzinfo=UTC
    )


def test_a_day_whose_midnight_is_skipped_starts_at_the_jump() -> None:
    # Chile moved its clocks from 00:00 to 01:00 on 2024-09-08 (UTC-4 -> UTC-3)
    start = day_start(date(2024, 9, 8), ZoneInfo("America/Santiago"))
    assert start == datetime(2024, 9, 8, 4, 0, tzinfo=UTC)
    assert start.astimezone(ZoneInfo("America/Santiago")).hour == 1


def test_hours_across_the_spring_jump_and_the_skipped_hour_is_refused() -> None:
    day = date(2025, 3, 30)  # 02:00 -> 03:00 in Berlin
    assert hour_start(day, 1, BERLIN) == datetime(2025, 3, 30, 0, 0, tzinfo=UTC)
    assert hour_start(day, 3, BERLIN) == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="2025-03-30 02:00 does not exist in Europe/Berlin"):
        hour_start(day, 2, BERLIN)


def test_the_repeated_autumn_hour_is_its_first_occurrence() -> None:
    day = date(2025, 10, 26)  # 03:00 -> 02:00 in Berlin
    assert hour_start(day, 2, BERLIN) == datetime(2025, 10, 26, 0, 0, tzinfo=UTC)
    assert hour_start(day, 3, BERLIN) == datetime(2025, 10, 26, 2, 0, tzinfo=UTC)
