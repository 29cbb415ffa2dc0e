"""Send simulator records to the source topics with confluent-kafka's ``Producer`` (librdkafka).

Invariants:
- records go to the catalogue's topic of their ``topic_key`` with their own key, so the
  key-hash partitioner co-partitions forms and CRM events of one lead; the partitioner is
  ``murmur2_random``, the Java client's murmur2 of the key, so a record lands in the same
  partition as with the Java client or kafka-python (``(murmur2(key) & 0x7fffffff) % n``);
- the producer is idempotent with ``acks=all``: a retry neither duplicates nor
  reorders a partition, so each partition holds the records in send order, exactly once
  (the simulator's deliberate duplicates are separate records);
- a full local queue (``BufferError``) is waited out by polling, never a dropped record;
- :func:`send_records` returns only after a final flush; ``failed`` counts every record
  whose delivery the broker did not acknowledge (from the delivery callback; records still
  queued when the flush times out are purged, and so reported failed, by an own producer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from funnelwatch.settings import Settings
from funnelwatch.streams.catalogue import catalogue

from .records import SentRecord

# librdkafka settings. A short linger and large batches trade a few ms of latency for
# throughput; no compression: the broker is local and the CPU is better spent producing.
# Delivery reports only for errors: a Python callback per acknowledged record would cost
# more than the send itself, and only failures are counted.
PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "max.in.flight.requests.per.connection": 5,
    "partitioner": "murmur2_random",
    "linger.ms": 20,
    "batch.size": 1024 * 1024,
    "compression.type": "none",
    "queue.buffering.max.messages": 200_000,
    "delivery.report.only.error": True,
    "client.id": "funnelwatch-simulator",
}

# Serve delivery callbacks every this many records; a full queue is polled at once.
POLL_EVERY = 1000
# How long one wait for room in a full local queue may block before retrying.
QUEUE_FULL_WAIT = 0.05
# make_producer waits this long for the broker's metadata: an unreachable broker fails
# the run at once (librdkafka alone would retry until every record timed out, minutes).
CONNECT_TIMEOUT = 10.0


class _NoRepeats(logging.Filter):
    """Drop a log line equal to the one before: a broker refusing connections makes
    librdkafka log the same line every ~50 ms."""

    def __init__(self) -> None:
        super().__init__()
        self._last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        repeat, self._last = text == self._last, text
        return not repeat


#: librdkafka's own log lines (served by poll/flush), through Python logging.
LIBRDKAFKA_LOG = logging.getLogger("funnelwatch.simulator.librdkafka")
LIBRDKAFKA_LOG.addFilter(_NoRepeats())


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    first_error: str | None = None

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def topic_names(settings: Settings) -> dict[str, str]:
    """Kafka topic name of each ``topic_key``, from the catalogue."""
    cat = catalogue(settings)
    return {
        "clicks": cat.clicks.name,
        "forms": cat.forms.name,
        "crm": cat.crm.name,
        "spend": cat.spend.name,
    }


def make_producer(settings: Settings) -> Producer:
    """A producer with PRODUCER_CONFIG, once the broker answered; RuntimeError if not."""
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap, **PRODUCER_CONFIG, "logger": LIBRDKAFKA_LOG}
    )
    try:
        producer.list_topics(timeout=CONNECT_TIMEOUT)
    except KafkaException as exc:
        producer.close()
        raise RuntimeError(
            f"Kafka at {settings.kafka_bootstrap} did not answer within {CONNECT_TIMEOUT:g}s: "
            f"{exc.args[0] if exc.args else exc}"
        ) from exc
    return producer


def send_records(
    records: Iterable[SentRecord],
    settings: Settings,
    *,
    progress_every: int = 50_000,
    log: Callable[[str], None] = print,
    on_sent: Callable[[SentRecord], None] | None = None,
    producer: Producer | None = None,
    flush_timeout: float = 120.0,
) -> SendResult:
    """Send every record, then flush; ``on_sent`` sees each record once it is handed to
    the producer (the CLI writes the ground truth there). A given ``producer`` is
    flushed but not closed (nor purged: records it still holds after ``flush_timeout``
    are counted failed, though they may yet be delivered)."""
    names = topic_names(settings)
    own = producer is None
    kafka = make_producer(settings) if producer is None else producer
    result = SendResult(per_topic=dict.fromkeys(names.values(), 0))

    def delivered(error: KafkaError | None, message: Message) -> None:
        # Served by poll()/flush() on this thread, so no lock is needed.
        if error is not None:
            result.failed += 1
            if result.first_error is None:
                result.first_error = str(error)

    produce = kafka.produce
    began = time.monotonic()
    try:
        for record in records:
            topic = names[record.topic_key]
            while True:
                try:
                    produce(topic, record.value, record.key, on_delivery=delivered)
                    break
                except BufferError:  # local queue full: let librdkafka send, then retry
                    kafka.poll(QUEUE_FULL_WAIT)
            result.sent += 1
            result.per_topic[topic] += 1
            if on_sent is not None:
                on_sent(record)
            if result.sent % POLL_EVERY == 0:
                kafka.poll(0)
            if progress_every and result.sent % progress_every == 0:
                elapsed = time.monotonic() - began
                log(f"sent {result.sent} records ({result.sent / max(elapsed, 1e-9):,.0f}/s)")
    finally:
        left = kafka.flush(flush_timeout)
        if left and own:
            # Purged records get a delivery report with a purge error: counted failed.
            kafka.purge()
            kafka.flush(5.0)
        elif left:
            result.failed += left
            if result.first_error is None:
                result.first_error = f"{left} records not delivered within {flush_timeout}s"
        if own:
            kafka.close()
        result.seconds = time.monotonic() - began
    return result
