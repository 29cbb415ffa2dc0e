"""Send simulator records to the source topics with kafka-python's ``KafkaProducer``.

Invariants:
- records go to the catalogue's topic of their ``topic_key`` with their own key, so the
  key-hash partitioner co-partitions forms and CRM events of one lead;
- the producer is idempotent with ``acks='all'``: a retry neither duplicates nor
  reorders a partition, so each partition holds the records in send order, exactly once
  (the simulator's deliberate duplicates are separate records);
- :func:`send_records` returns only after a final flush; ``failed`` counts every record
  whose delivery the broker did not acknowledge.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer

from funnelwatch.settings import Settings
from funnelwatch.streams.catalogue import catalogue

from .records import SentRecord

# Large batches and a short linger trade a few ms of latency for throughput; no
# compression: the broker is local and the CPU is better spent producing.
PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 20,
    "batch_size": 256 * 1024,
    "compression_type": None,
    "max_in_flight_requests_per_connection": 5,
    "client_id": "funnelwatch-simulator",
}


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
    return {"clicks": cat.clicks.name, "forms": cat.forms.name, "crm": cat.crm.name}


def make_producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=settings.kafka_bootstrap.split(","), **PRODUCER_CONFIG)


def send_records(
    records: Iterable[SentRecord],
    settings: Settings,
    *,
    progress_every: int = 50_000,
    log: Callable[[str], None] = print,
    on_sent: Callable[[SentRecord], None] | None = None,
    producer: KafkaProducer | None = None,
    flush_timeout: float = 120.0,
) -> SendResult:
    """Send every record, then flush; ``on_sent`` sees each record once it is handed to
    the producer (the CLI writes the ground truth there). A given ``producer`` is
    flushed but not closed."""
    names = topic_names(settings)
    own = producer is None
    kafka = make_producer(settings) if producer is None else producer
    result = SendResult(per_topic=dict.fromkeys(names.values(), 0))

    def failed(exc: BaseException) -> None:
        # Runs on the producer's I/O thread; int += is atomic enough under the GIL here
        # because only this callback writes ``failed``.
        result.failed += 1
        if result.first_error is None:
            result.first_error = repr(exc)

    began = time.monotonic()
    try:
        for record in records:
            topic = names[record.topic_key]
            kafka.send(topic, value=record.value, key=record.key).add_errback(failed)
            result.sent += 1
            result.per_topic[topic] += 1
            if on_sent is not None:
                on_sent(record)
            if progress_every and result.sent % progress_every == 0:
                elapsed = time.monotonic() - began
                log(f"sent {result.sent} records ({result.sent / max(elapsed, 1e-9):,.0f}/s)")
    finally:
        kafka.flush(timeout=flush_timeout)
        if own:
            kafka.close()
        result.seconds = time.monotonic() - began
    return result
