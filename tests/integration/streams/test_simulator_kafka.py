"""The simulator's producer and ``--replay`` against a real broker: partitions as the Java
client / kafka-python would pick them, per-partition send order, identical bytes."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from kafka.partitioner.default import murmur2

from funnelwatch.settings import Settings, load_settings
from funnelwatch.streams.admin import ensure_topics
from funnelwatch.streams.catalogue import catalogue
from funnelwatch.streams.simulator import SentRecord, SimulationConfig, default_campaigns, generate
from funnelwatch.streams.simulator.cli import main
from funnelwatch.streams.simulator.ground_truth import read_ground_truth
from funnelwatch.streams.simulator.producer import send_records, topic_names

pytestmark = pytest.mark.integration

PARTITIONS = 4
END = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
# (partition, key, value) of each record read back, per topic, in partition offset order
Landed = dict[str, list[tuple[int, bytes, bytes]]]


def java_partition(key: bytes, partitions: int = PARTITIONS) -> int:
    """kafka-python's DefaultPartitioner, the Java client's murmur2 partitioning."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def fresh_settings(bootstrap: str, tag: str) -> Settings:
    settings = load_settings(
        topic_prefix=f"{tag}-{uuid.uuid4().hex[:8]}",
        kafka_bootstrap=bootstrap,
        partitions=PARTITIONS,
    )
    ensure_topics(bootstrap, catalogue(settings).sources)
    return settings


def read_back(settings: Settings, expected: int, timeout: float = 60.0) -> Landed:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.topic_prefix}-check",
            "enable.auto.commit": False,
        }
    )
    names = list(topic_names(settings).values())
    consumer.assign(
        [TopicPartition(t, p, OFFSET_BEGINNING) for t in names for p in range(PARTITIONS)]
    )
    landed: Landed = {t: [] for t in names}
    count = 0
    deadline = time.monotonic() + timeout
    try:
        while count < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=10_000, timeout=0.5):
                assert message.error() is None, message.error()
                topic, partition = message.topic(), message.partition()
                key, value = message.key(), message.value()
                assert topic is not None and partition is not None
                assert key is not None and value is not None
                landed[topic].append((partition, key, value))
                count += 1
        time.sleep(0.5)  # nothing beyond the expected records arrives
        count += len(consumer.consume(num_messages=10_000, timeout=0.5))
    finally:
        consumer.close()
    assert count == expected
    return landed


def by_partition(
    settings: Settings, records: list[SentRecord]
) -> dict[tuple[str, int], list[tuple[bytes, bytes]]]:
    """Where each record must land, Java-style, in send order."""
    names = topic_names(settings)
    expected: dict[tuple[str, int], list[tuple[bytes, bytes]]] = defaultdict(list)
    for r in records:
        expected[names[r.topic_key], java_partition(r.key)].append((r.key, r.value))
    return expected


def landed_by_partition(landed: Landed) -> dict[tuple[str, int], list[tuple[bytes, bytes]]]:
    got: dict[tuple[str, int], list[tuple[bytes, bytes]]] = defaultdict(list)
    for topic, rows in landed.items():
        for partition, key, value in rows:
            got[topic, partition].append((key, value))
    return got


def extra_keys() -> list[SentRecord]:
    """Keys of other shapes than the generator's: short, long, non-ASCII, binary."""
    keys = [b"a", b"lead-0", "lead-é-ü".encode(), b"x" * 300, bytes(range(1, 64))]
    keys += [f"k{i}".encode() for i in range(200)]
    return [SentRecord("forms", k, b"{}", None, True, None, False) for k in keys]


def test_records_land_in_the_java_partition_of_their_key_in_send_order(
    kafka_bootstrap: str,
) -> None:
    settings = fresh_settings(kafka_bootstrap, "sim-partitions")
    cfg = SimulationConfig(
        seed=3,
        start=END - timedelta(hours=2),
        end=END,
        campaigns=default_campaigns(),
        clicks_per_minute=30,
        duplicate_rate=0.05,
        out_of_order_rate=0.2,
        malformed_rate=0.05,
    )
    records = list(generate(cfg)) + extra_keys()
    assert {r.topic_key for r in records} == {"clicks", "forms", "crm"}
    result = send_records(records, settings, log=lambda _: None)
    assert result.failed == 0 and result.first_error is None
    assert result.sent == len(records)

    landed = read_back(settings, len(records))
    got = landed_by_partition(landed)
    expected = by_partition(settings, records)
    # every partition holds exactly its records, in send order (so duplicates once each)
    assert got == expected
    assert len({p for _, p in got}) == PARTITIONS  # the keys spread over all partitions


def test_replay_sends_identical_records_to_the_current_prefix(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    source = fresh_settings(kafka_bootstrap, "sim-source")
    truth = tmp_path / "truth.jsonl"
    argv = ["--events", "1500", "--seed", "11", "--malformed", "0.05", "--duplicates", "0.05"]
    assert main([*argv, "--dry-run", "--ground-truth", str(truth)], source) == 0
    recorded = list(read_ground_truth(truth))
    assert '"value_encoding":"base64"' in truth.read_text()  # non-UTF-8 values among them

    runs = [fresh_settings(kafka_bootstrap, f"sim-replay{i}") for i in range(2)]
    for run, rate in zip(runs, [None, 3000.0], strict=True):
        replay = ["--replay", str(truth)] + ([] if rate is None else ["--rate", str(rate)])
        began = time.monotonic()
        assert main(replay, run) == 0
        if rate is not None:  # 1500 records at 3000/s
            assert time.monotonic() - began >= len(recorded) / rate * 0.9
        got = landed_by_partition(read_back(run, len(recorded)))
        assert got == by_partition(run, recorded)
    # the dry run sent nothing: the file's own prefix stays empty
    assert read_back(source, 0, timeout=1.0) == {t: [] for t in topic_names(source).values()}
