"""A partition paused before a rebalance fetches again once it is assigned again.

On a real broker: librdkafka keeps a partition's pause flag across a reassignment, so the
hot path's ``on_assign`` must resume what it is given (``assign_unpaused``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from funnelwatch.processors.hotpath.kafka import assign_unpaused

pytestmark = pytest.mark.integration

OnAssign = Callable[[Consumer, list[TopicPartition]], None]


def _consumer(bootstrap: str, group: str, topic: str, on_assign: OnAssign) -> Consumer:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 6000})  # fmt: skip
    consumer.subscribe([topic], on_assign=on_assign)
    return consumer


def _read_after_a_rebalance(bootstrap: str, on_assign: OnAssign) -> int:
    """Records the first consumer reads after it paused everything and a second consumer
    joined and left again."""
    topic = f"pause-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(20):
        producer.produce(topic, b"x", partition=i % 2)
    producer.flush(30)
    group = f"g-{topic}"
    first = _consumer(bootstrap, group, topic, on_assign)
    deadline = time.monotonic() + 30
    while not first.assignment() and time.monotonic() < deadline:
        first.poll(0.2)
    first.pause(first.assignment())
    second = _consumer(bootstrap, group, topic, on_assign)
    deadline = time.monotonic() + 30
    while len(first.assignment()) > 1 and time.monotonic() < deadline:
        first.poll(0.1)
        second.poll(0.1)
    second.close()  # its partition comes back to the first consumer
    read = 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and read < 20:
        message = first.poll(0.2)
        if message is not None and message.error() is None:
            read += 1
    first.close()
    return read


def test_librdkafka_keeps_a_partition_paused_across_a_reassignment(kafka_bootstrap: str) -> None:
    # the fault assign_unpaused exists for: if this starts failing, librdkafka changed
    assert _read_after_a_rebalance(kafka_bootstrap, lambda c, ps: None) == 0


def test_assign_unpaused_makes_every_reassigned_partition_fetch(kafka_bootstrap: str) -> None:
    assert _read_after_a_rebalance(kafka_bootstrap, assign_unpaused) == 20
