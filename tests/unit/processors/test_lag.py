"""Consumer lag: the arithmetic, the gauge following the assignment, and the lag the hot
path reports from its consumer (high watermarks against its committed offsets)."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client import REGISTRY

from funnelwatch.processors.hotpath.config import HotPathConfig, Topics
from funnelwatch.processors.hotpath.loop import HotPath
from funnelwatch.processors.lag import LagReporter, partition_lag
from funnelwatch.schemas.contracts import Limits
from funnelwatch.schemas.funnel import load_funnel


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
    def __init__(self, highwaters: dict[tuple[str, int], int], fail: bool = False) -> None:
        self.highwaters = highwaters
        self.fail = fail

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.highwaters]

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool) -> tuple[int, int]:
        assert cached  # the lag refresh never waits on the broker
        if self.fail:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        return (0, self.highwaters[(tp.topic, tp.partition)])


def hot_path(tmp_path: Path) -> HotPath:
    topics = Topics("lagtest.clicks", "lagtest.forms", "lagtest.crm", "lagtest.spend",
                    "lagtest.by-lead", "lagtest.dead", "lagtest.rollup", partitions=2)  # fmt: skip
    config = HotPathConfig("localhost:1", "lagtest", topics, load_funnel(), Limits(), tmp_path)
    return HotPath(config, connect_clickhouse=lambda: None)


def test_the_hot_path_reports_the_lag_of_its_assignment_from_its_committed_offsets(
    tmp_path: Path,
) -> None:
    hp = hot_path(tmp_path)
    hp.consumer = FakeConsumer(
        {("lagtest.clicks", 0): 500, ("lagtest.forms", 0): 80, ("lagtest.crm", 0): -1}
    )
    hp._committed = {("lagtest.clicks", 0): 450}  # forms 0: nothing committed yet
    hp._report_lag()
    assert sample("lagtest.clicks", 0) == 50
    assert sample("lagtest.forms", 0) == 80
    assert sample("lagtest.crm", 0) is None  # its high watermark is not known yet
    hp.consumer = FakeConsumer({("lagtest.forms", 0): 80})
    hp._report_lag()  # after a rebalance: only what is assigned now
    assert sample("lagtest.clicks", 0) is None and sample("lagtest.forms", 0) == 80
    hp.consumer = FakeConsumer({("lagtest.forms", 0): 80}, fail=True)
    hp._report_lag()  # the broker away: no made-up numbers
    assert sample("lagtest.forms", 0) is None
