"""Producing: every record acknowledged, or a loud error; nothing sent to a missing topic."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from funnelwatch.connectors.spend import produce as produce_module
from funnelwatch.connectors.spend.produce import ProduceError, produce
from funnelwatch.settings import load_settings

TOPIC = "fw.ad-spend"
RECORDS = [(b"c1", b'{"a":1}'), (b"c2", b'{"a":2}'), (b"c1", b'{"a":3}')]


class FakeProducer:
    """confluent-kafka's Producer as produce() uses it; ``fail`` records get an error
    report, ``stuck`` ones stay queued through the flush."""

    def __init__(self, topics: tuple[str, ...] = (TOPIC,), fail: int = 0, stuck: int = 0):
        self.topics = topics
        self.fail, self.stuck = fail, stuck
        self.queued: list[tuple[str, bytes, bytes, Callable[..., None]]] = []
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.closed = False

    def list_topics(self, timeout: float) -> Any:
        return SimpleNamespace(topics=dict.fromkeys(self.topics))

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Any) -> None:
        self.queued.append((topic, value, key, on_delivery))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        keep = self.queued[len(self.queued) - self.stuck :] if self.stuck else []
        for i, (topic, value, key, callback) in enumerate(
            self.queued[: len(self.queued) - len(keep)]
        ):
            if i < self.fail:
                callback("Broker: Not enough in-sync replicas", None)
            else:
                self.sent.append((topic, key, value))
        self.queued = keep
        return len(keep)

    def purge(self) -> None:
        for *_, callback in self.queued:
            callback("Local: Purged in queue", None)
        self.queued, self.stuck = [], 0

    def close(self) -> None:
        self.closed = True


def with_producer(monkeypatch: pytest.MonkeyPatch, fake: FakeProducer) -> None:
    monkeypatch.setattr(produce_module, "make_producer", lambda settings: fake)


def test_every_record_acknowledged_returns_their_number(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeProducer()
    with_producer(monkeypatch, fake)
    assert produce(RECORDS, TOPIC, load_settings()) == 3
    assert fake.sent == [(TOPIC, key, value) for key, value in RECORDS] and fake.closed


def test_a_record_the_broker_refused_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    with_producer(monkeypatch, FakeProducer(fail=1))
    with pytest.raises(ProduceError, match=r"^1 of 3 records were not acknowledged \(Broker"):
        produce(RECORDS, TOPIC, load_settings())


def test_records_still_queued_after_the_flush_are_purged_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeProducer(stuck=2)
    with_producer(monkeypatch, fake)
    with pytest.raises(ProduceError, match=r"^2 of 3 records were not acknowledged"):
        produce(RECORDS, TOPIC, load_settings())
    assert fake.queued == [] and fake.closed


def test_nothing_is_sent_to_a_topic_that_does_not_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeProducer(topics=("other",))
    with_producer(monkeypatch, fake)
    with pytest.raises(ProduceError, match=f"^topic {TOPIC} does not exist"):
        produce(RECORDS, TOPIC, load_settings())
    assert fake.queued == [] and fake.sent == [] and fake.closed
