"""Row versions only go up, whatever the wall clock does."""

from __future__ import annotations

import pytest

from funnelwatch.processors.rollup import versions


def test_a_clock_stepped_back_still_gives_higher_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(versions, "_last_version", 0)
    clock = iter([5_000_000_000_000, 4_000_000_000_000, 4_000_000_000_000])
    monkeypatch.setattr(versions.time, "time_ns", lambda: next(clock))
    first = versions.new_version()
    second = versions.new_version()
    third = versions.new_version()
    assert first < second < third


def test_versions_start_above_one_read_back_after_a_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(versions, "_last_version", 0)  # restored after the test
    monkeypatch.setattr(versions.time, "time_ns", lambda: 1_000_000_000_000)
    written_before = 9_000_000_000_000_000
    versions.saw_version(written_before)
    assert versions.new_version() > written_before


def test_a_version_seen_below_the_last_one_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(versions, "_last_version", 0)
    monkeypatch.setattr(versions.time, "time_ns", lambda: 1_000_000_000_000_000)
    first = versions.new_version()
    versions.saw_version(5)
    assert versions.new_version() == first + 1
