"""The hot path's Kafka clients (confluent-kafka, librdkafka), configured in one place.

- consumer: manual commits only, the range assignor (partition p of every topic goes
  to one member: the co-partitioning the lead owners rely on), a short session so a
  killed worker's partitions move on within seconds, a bounded prefetch;
- producer: idempotent, acknowledged by all replicas, Java's partitioner, and no
  delivery timeout: a broker that is away holds records back, it never drops them;
- librdkafka's own log lines pass through :class:`Quieter`, so an outage is a few lines
  with counts, not one per failed connection attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from ..quiet import Quieter
from ..source.placement import PARTITIONER
from .config import HotPathConfig

log = logging.getLogger(__name__)

#: seconds during which repeated messages of one kind are counted, not printed


class _LibrdkafkaLog(logging.Handler):
    """Routes librdkafka's logger through a Quieter, keyed by facility."""

    def __init__(self, quieter: Quieter) -> None:
        super().__init__()
        self._quieter = quieter

    def emit(self, record: logging.LogRecord) -> None:
        facility = str(record.args[1]) if isinstance(record.args, tuple) and record.args else ""
        self._quieter(record.levelno, f"rdkafka:{record.levelno}:{facility}", record.getMessage())


def _client_logger(name: str, quieter: Quieter) -> logging.Logger:
    logger = logging.getLogger(f"funnelwatch.librdkafka.{name}")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(_LibrdkafkaLog(quieter))
    return logger


def _error_callback(quieter: Quieter) -> Callable[[KafkaError], None]:
    def on_error(err: KafkaError) -> None:
        level = logging.ERROR if err.fatal() else logging.WARNING
        quieter(level, f"kafka-error:{err.code()}", f"Kafka: {err.str()}")

    return on_error


def make_consumer(config: HotPathConfig, group_id: str, quieter: Quieter, **extra: Any) -> Consumer:
    session_ms = int(config.session_timeout_seconds * 1000)
    return Consumer(
        {
            "bootstrap.servers": config.bootstrap,
            "group.id": group_id,
            "client.id": f"{group_id}-consumer",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range",
            "session.timeout.ms": session_ms,
            "heartbeat.interval.ms": max(500, session_ms // 3),
            "max.poll.interval.ms": int(config.max_poll_interval_seconds * 1000),
            # a fetch waits at most this long for data: bounds the latency of a live stream
            "fetch.wait.max.ms": 50,
            # prefetched records held in memory at most (bounds the worker's memory), and
            # how soon fetching resumes once the queue has room (librdkafka waits 1 s)
            "queued.max.messages.kbytes": 65_536,
            "fetch.queue.backoff.ms": 10,
            "enable.partition.eof": False,
            "logger": _client_logger("consumer", quieter),
            "error_cb": _error_callback(quieter),
            **extra,
        }
    )


def assign_unpaused(consumer: Consumer, partitions: list[TopicPartition]) -> None:
    """Take an assignment from inside ``on_assign``, every partition of it fetching.

    librdkafka keeps a partition's pause flag across rebalances: a partition paused
    during an outage or by the aligner, revoked and assigned again, would stay paused for
    good while this worker believes it unpaused (measured: no record after the
    reassignment). The callback assigns and resumes what it is given itself.
    """
    consumer.assign(partitions)
    if partitions:
        consumer.resume(partitions)


def make_producer(
    config: HotPathConfig, client_id: str, quieter: Quieter, on_delivery: Callable[..., None]
) -> Producer:
    return Producer(
        {
            "bootstrap.servers": config.bootstrap,
            "client.id": client_id,
            "enable.idempotence": True,
            "acks": "all",
            "partitioner": PARTITIONER,
            "linger.ms": 5,
            "batch.size": 1_000_000,
            # 0: no delivery timeout; a broker restart delays records, never loses them
            "message.timeout.ms": 0,
            "on_delivery": on_delivery,
            "logger": _client_logger("producer", quieter),
            "error_cb": _error_callback(quieter),
        }
    )
