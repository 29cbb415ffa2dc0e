"""The log limiter: the first line of a kind, then counted summaries."""

from __future__ import annotations

import logging

import pytest

from funnelwatch.processors import quiet as quiet_module
from funnelwatch.processors.quiet import Quieter

LOGGER = "funnelwatch.test.quieter"


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(quiet_module, "time", c)
    return c


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_the_first_message_of_a_kind_is_printed_and_repeats_are_summarized(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    quiet = Quieter(logging.getLogger(LOGGER), window=30.0)
    quiet(logging.WARNING, "conn", "broker down: connection refused #1")
    for i in range(2, 500):
        clock.now += 0.05
        quiet(logging.WARNING, "conn", f"broker down: connection refused #{i}")
    assert lines(caplog) == [(logging.WARNING, "broker down: connection refused #1")]
    clock.now += 30.0
    quiet(logging.WARNING, "conn", "broker down: connection refused #500")
    (_, summary) = lines(caplog)[-1]
    assert summary.startswith("broker down: connection refused #500 (and 498 more like it in")
    assert len(lines(caplog)) == 2


def test_kinds_are_limited_separately(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    quiet = Quieter(logging.getLogger(LOGGER), window=30.0)
    quiet(logging.WARNING, "a", "first a")
    quiet(logging.ERROR, "b", "first b")
    quiet(logging.WARNING, "a", "second a")
    assert lines(caplog) == [(logging.WARNING, "first a"), (logging.ERROR, "first b")]


def test_a_message_after_a_quiet_window_is_printed_plainly(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    quiet = Quieter(logging.getLogger(LOGGER), window=30.0)
    quiet(logging.INFO, "a", "once")
    clock.now += 31.0
    quiet(logging.INFO, "a", "again, much later")
    assert lines(caplog) == [(logging.INFO, "once"), (logging.INFO, "again, much later")]
