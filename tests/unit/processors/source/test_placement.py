"""A lead's owner partition is where Kafka's default partitioner puts its key."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner

from funnelwatch.processors.source.placement import PARTITIONER, owner_partition


class Cluster:
    """The cluster metadata kafka-python's partitioner asks for: one topic, all up."""

    def __init__(self, partitions: int) -> None:
        self._partitions = set(range(partitions))

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions


def kafka_python_partition(key: str, partitions: int) -> int:
    raw = key.encode()
    return int(DefaultPartitioner().partition("t", key, raw, None, None, Cluster(partitions)))


def test_owner_partition_is_kafka_pythons_default_partition_for_many_keys() -> None:
    keys = [f"lead-{i}" for i in range(3000)] + ["", "a", "é", "lead-é-ü", "x" * 500]
    for partitions in (1, 2, 3, 4, 7, 12, 64, 100):
        for key in keys:
            assert owner_partition(key, partitions) == kafka_python_partition(key, partitions)


@settings(max_examples=2000, database=None)
@given(st.text(max_size=80), st.integers(1, 256))
def test_owner_partition_matches_kafka_python_for_any_key(key: str, partitions: int) -> None:
    assert owner_partition(key, partitions) == kafka_python_partition(key, partitions)


# murmur2 values of the Java client's own test (org.apache.kafka.common.utils.UtilsTest)
JAVA_MURMUR2 = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


@pytest.mark.parametrize(("key", "java_hash"), JAVA_MURMUR2.items())
@pytest.mark.parametrize("partitions", [1, 4, 7, 100])
def test_owner_partition_is_the_java_clients_partition(
    key: str, java_hash: int, partitions: int
) -> None:
    # Java: Utils.toPositive(murmur2(key)) % numPartitions
    assert owner_partition(key, partitions) == (java_hash & 0x7FFFFFFF) % partitions


def test_keys_spread_over_every_partition() -> None:
    owners = {owner_partition(f"lead-{i}", 8) for i in range(1000)}
    assert owners == set(range(8))


def test_the_projects_producers_use_the_java_partitioner() -> None:
    assert PARTITIONER == "murmur2_random"
