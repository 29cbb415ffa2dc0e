"""Versions of the sink's rewrites only go up, whatever the wall clock does."""

from __future__ import annotations

import pytest

from funnelwatch.processors import rollup


def test_a_clock_stepped_back_still_gives_higher_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rollup, "_last_version", 0)
    clock = iter([5_000_000_000_000, 4_000_000_000_000, 4_000_000_000_000])
    monkeypatch.setattr(rollup.time, "time_ns", lambda: next(clock))
    first = rollup.new_version()
    second = rollup.new_version()
    third = rollup.new_version()
    assert first < second < third


def test_versions_start_above_one_read_back_after_a_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rollup, "_last_version", 0)  # restored after the test
    monkeypatch.setattr(rollup.time, "time_ns", lambda: 1_000_000_000_000)
    written_before = 9_000_000_000_000_000
    rollup.saw_version(written_before)
    assert rollup.new_version() > written_before
