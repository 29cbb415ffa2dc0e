"""Sending records: topic routing, keys, progress, flush and delivery failures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from funnelwatch.settings import load_settings
from funnelwatch.streams.simulator import SentRecord, SimulationConfig, default_campaigns, generate
from funnelwatch.streams.simulator.producer import PRODUCER_CONFIG, send_records, topic_names

END = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def add_errback(self, callback: Callable[[Exception], None]) -> FakeFuture:
        if self.error is not None:
            callback(self.error)
        return self


@dataclass
class FakeProducer:
    fail_every: int = 0
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    flushed: int = 0

    def send(self, topic: str, value: bytes, key: bytes) -> FakeFuture:
        self.sent.append((topic, key, value))
        failing = self.fail_every and len(self.sent) % self.fail_every == 0
        return FakeFuture(RuntimeError("broker said no") if failing else None)

    def flush(self, timeout: float | None = None) -> None:
        self.flushed += 1


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
        producer=producer,
        on_sent=seen.append,
        progress_every=1000,
        log=logged.append,
    )
    names = topic_names(settings)
    assert producer.sent == [(names[r.topic_key], r.key, r.value) for r in sent]
    assert seen == sent and producer.flushed == 1
    assert result.sent == len(sent) and result.failed == 0
    assert sum(result.per_topic.values()) == len(sent)
    assert names == {"clicks": "t.ad-clicks", "forms": "t.form-submissions", "crm": "t.crm-events"}
    assert len(logged) == len(sent) // 1000


def test_delivery_failures_are_counted() -> None:
    producer = FakeProducer(fail_every=10)
    result = send_records(records(), load_settings(), producer=producer, log=lambda _: None)
    assert result.failed == result.sent // 10
    assert result.first_error is not None and "broker said no" in result.first_error


def test_producer_is_idempotent_and_waits_for_all_replicas() -> None:
    config: dict[str, Any] = PRODUCER_CONFIG
    assert config["acks"] == "all" and config["enable_idempotence"] is True
    assert config["compression_type"] is None and config["linger_ms"] > 0
