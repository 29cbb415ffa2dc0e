"""Sending records: topic routing, keys, progress, flush, a full queue and delivery failures."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer

from funnelwatch.settings import load_settings
from funnelwatch.streams.simulator import SentRecord, SimulationConfig, default_campaigns, generate
from funnelwatch.streams.simulator import producer as producer_module
from funnelwatch.streams.simulator.producer import (
    PRODUCER_CONFIG,
    make_producer,
    send_records,
    topic_names,
)

END = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
Callback = Callable[[KafkaError | None, Any], None]


@dataclass
class FakeProducer:
    """confluent-kafka's Producer as send_records uses it: ``produce`` queues (BufferError
    when ``capacity`` records wait), delivery callbacks run in ``poll``/``flush``, and
    ``flush`` returns how many records are still queued."""

    fail_every: int = 0
    capacity: int = 1_000_000
    stuck: bool = False  # the broker never answers: flush times out
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    queue: list[tuple[Callback, KafkaError | None]] = field(default_factory=list)
    flushed: int = 0
    full: int = 0
    purged: bool = False
    closed: bool = False

    def produce(self, topic: str, value: bytes, key: bytes, *, on_delivery: Callback) -> None:
        if len(self.queue) >= self.capacity:
            self.full += 1
            raise BufferError("Local: Queue full")
        self.sent.append((topic, key, value))
        failing = self.fail_every and len(self.sent) % self.fail_every == 0
        error = KafkaError(KafkaError._MSG_TIMED_OUT, "broker said no") if failing else None
        self.queue.append((on_delivery, error))

    def poll(self, timeout: float = -1) -> int:
        if self.stuck:
            return 0
        served, self.queue = self.queue, []
        for callback, error in served:
            if error is not None:  # delivery.report.only.error
                callback(error, None)
        return len(served)

    def flush(self, timeout: float = -1) -> int:
        self.flushed += 1
        self.poll(timeout)
        return len(self.queue)

    def purge(self) -> None:
        self.purged = True
        purge = KafkaError(KafkaError._PURGE_QUEUE, "purged")
        self.queue = [(callback, purge) for callback, _ in self.queue]
        self.stuck = False

    def close(self) -> None:
        self.closed = True


def records() -> list[SentRecord]:
    cfg = SimulationConfig(
        seed=1,
        start=END - timedelta(minutes=30),
        end=END,
        campaigns=default_campaigns(),
        malformed_rate=0.05,
    )
    return list(generate(cfg))


def test_records_go_to_catalogue_topics_with_their_keys_in_send_order() -> None:
    settings = load_settings(topic_prefix="t")
    producer = FakeProducer()
    seen: list[SentRecord] = []
    logged: list[str] = []
    sent = records()
    result = send_records(
        sent,
        settings,
        producer=producer,  # type: ignore[arg-type]
        on_sent=seen.append,
        progress_every=1000,
        log=logged.append,
    )
    names = topic_names(settings)
    assert producer.sent == [(names[r.topic_key], r.key, r.value) for r in sent]
    assert seen == sent and producer.flushed == 1
    assert not producer.closed  # a given producer is the caller's to close
    assert result.sent == len(sent) and result.failed == 0
    assert sum(result.per_topic.values()) == len(sent)
    assert names == {
        "clicks": "t.ad-clicks",
        "forms": "t.form-submissions",
        "crm": "t.crm-events",
        "spend": "t.ad-spend",
    }
    assert len(logged) == len(sent) // 1000
    assert logged[0].startswith("sent 1000 records (")


def test_delivery_failures_are_counted() -> None:
    producer = FakeProducer(fail_every=10)
    result = send_records(
        records(),
        load_settings(),
        producer=producer,  # type: ignore[arg-type]
        log=lambda _: None,
    )
    assert result.failed == result.sent // 10
    assert result.first_error is not None and "broker said no" in result.first_error


def test_a_full_queue_is_polled_and_retried_not_dropped() -> None:
    producer = FakeProducer(capacity=7, fail_every=50)
    sent = records()
    result = send_records(
        sent,
        load_settings(),
        producer=producer,  # type: ignore[arg-type]
        log=lambda _: None,
    )
    assert producer.full > 0
    assert [(k, v) for _, k, v in producer.sent] == [(r.key, r.value) for r in sent]
    assert result.sent == len(sent) and result.failed == len(sent) // 50


def test_records_left_after_the_flush_timeout_count_as_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # own producer: purged, and each purged record reported failed by its callback
    own = FakeProducer(stuck=True)
    monkeypatch.setattr(producer_module, "make_producer", lambda settings: own)
    result = send_records(records()[:25], load_settings(), log=lambda _: None)
    assert own.purged and own.closed
    assert result.failed == 25 and result.first_error is not None
    assert "purged" in result.first_error
    # a given producer is not purged: what it still holds is counted failed
    given = FakeProducer(stuck=True)
    result = send_records(
        records()[:25],
        load_settings(),
        producer=given,  # type: ignore[arg-type]
        log=lambda _: None,
        flush_timeout=0.1,
    )
    assert not given.purged and not given.closed
    assert result.failed == 25 and result.first_error == "25 records not delivered within 0.1s"


def test_producer_is_idempotent_waits_for_all_replicas_and_hashes_keys_like_java() -> None:
    config: dict[str, Any] = PRODUCER_CONFIG
    assert config["acks"] == "all" and config["enable.idempotence"] is True
    assert config["max.in.flight.requests.per.connection"] <= 5  # idempotence keeps order
    assert config["partitioner"] == "murmur2_random"  # not librdkafka's default crc32
    assert config["compression.type"] == "none" and config["linger.ms"] > 0


def test_librdkafka_accepts_the_config() -> None:
    # librdkafka checks every property when a producer is built (no broker needed)
    producer = Producer({"bootstrap.servers": "127.0.0.1:1", **PRODUCER_CONFIG})
    producer.close()


def test_make_producer_fails_fast_when_the_broker_does_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(producer_module, "CONNECT_TIMEOUT", 0.5)
    with pytest.raises(RuntimeError, match=r"Kafka at 127\.0\.0\.1:1 did not answer within 0\.5s"):
        make_producer(load_settings(kafka_bootstrap="127.0.0.1:1"))


def test_librdkafka_log_lines_repeated_in_a_row_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = producer_module.LIBRDKAFKA_LOG
    with caplog.at_level(logging.WARNING, logger=log.name):
        for text in ["FAIL refused", "FAIL refused", "FAIL refused", "UP", "FAIL refused"]:
            log.error(text)
    assert [r.getMessage() for r in caplog.records] == ["FAIL refused", "UP", "FAIL refused"]
