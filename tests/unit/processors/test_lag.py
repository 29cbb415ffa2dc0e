"""Consumer lag: the arithmetic, the gauge following the assignment, and which
partitions of the Faust consumer count (no changelogs)."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from typing import Any

from prometheus_client import REGISTRY

from funnelwatch.processors.lag import LagReporter, faust_lags, partition_lag

TP = namedtuple("TP", "topic partition")


def sample(topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "funnelwatch_consumer_lag", {"topic": topic, "partition": str(partition)}
    )


def test_lag_is_high_watermark_minus_committed_and_unknown_without_a_high_watermark() -> None:
    assert partition_lag(100, 40) == 60
    assert partition_lag(100, 100) == 0
    assert partition_lag(100, None) == 100  # nothing committed: all of it is to read
    assert partition_lag(90, 100) == 0  # a high watermark older than the commit
    assert partition_lag(None, 40) is None


def test_reporter_removes_the_series_of_partitions_no_longer_assigned() -> None:
    reporter = LagReporter()
    reporter.report({("lagtest.a", 0): 5, ("lagtest.a", 1): 7, ("lagtest.a", 2): None})
    assert sample("lagtest.a", 0) == 5 and sample("lagtest.a", 1) == 7
    assert sample("lagtest.a", 2) is None  # unknown lag: no series rather than a made-up 0
    reporter.report({("lagtest.a", 1): 3})  # a rebalance took partition 0 away
    assert sample("lagtest.a", 0) is None
    assert sample("lagtest.a", 1) == 3
    reporter.report({})
    assert sample("lagtest.a", 1) is None


class FakeConsumer:
    def __init__(
        self,
        highwaters: dict[Any, int | None],
        positions: dict[Any, int],
        broker_ends: dict[Any, int] | None = None,
    ) -> None:
        self._highwaters = highwaters
        self._positions = positions
        self._broker_ends = broker_ends or {}

    def assignment(self) -> set[Any]:
        return set(self._highwaters)

    def highwater(self, tp: Any) -> int | None:
        return self._highwaters[tp]

    async def highwaters(self, *tps: Any) -> dict[Any, int]:
        return {tp: self._broker_ends[tp] for tp in tps}

    async def position(self, tp: Any) -> int:
        return self._positions[tp]


class FakeApp:
    def __init__(self, consumer: FakeConsumer, committed: dict[Any, int]) -> None:
        self.consumer = consumer
        self.monitor = type("Monitor", (), {"tp_committed_offsets": committed})()


def test_faust_lag_uses_committed_offsets_then_positions_and_skips_changelogs() -> None:
    clicks0, clicks1 = TP("fw.ad-clicks", 0), TP("fw.ad-clicks", 1)
    changelog, leader = TP("fw-clicks-changelog", 0), TP("fw-__assignor-__leader", 0)
    app = FakeApp(
        FakeConsumer(
            {clicks0: 500, clicks1: 80, changelog: 9000, leader: 3},
            {clicks0: 450, clicks1: 70, changelog: 0, leader: 0},
        ),
        committed={clicks0: 400},  # partition 1 has had no commit in this process yet
    )
    lags = asyncio.run(faust_lags(app, excluded=["fw-__assignor-__leader"]))
    assert lags == {("fw.ad-clicks", 0): 100, ("fw.ad-clicks", 1): 10}


def test_a_partition_never_fetched_reports_its_lag_from_the_broker_end_offset() -> None:
    stuck = TP("fw.ad-clicks", 0)
    app = FakeApp(FakeConsumer({stuck: None}, {stuck: 1200}, broker_ends={stuck: 22_000}), {})
    lags = asyncio.run(faust_lags(app, excluded=[]))
    assert lags == {("fw.ad-clicks", 0): 20_800}
