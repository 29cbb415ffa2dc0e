"""Passing through outages (fakes stand in for ClickHouse, the consumer and the clock):
retries with backoff, partitions paused meanwhile, Abandoned when they were revoked,
Fatal when retrying cannot help, a few log lines per outage."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_INVALID,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from prometheus_client import REGISTRY

from funnelwatch.clickhouse import ClickHouseError
from funnelwatch.processors.hotpath import gate as gate_module
from funnelwatch.processors.hotpath.gate import Abandoned, Fatal, Gate


class Clock:
    """Monotonic time that moves only when someone waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(gate_module, "time", c)
    return c


class FlakyClickHouse:
    """Fails its first ``failures`` calls with ``error``, then answers."""

    version = (26, 9)

    def __init__(self, failures: int, retryable: bool = True) -> None:
        self.failures = failures
        self.retryable = retryable
        self.calls = 0
        self.connects = 0
        self.closes = 0

    def connect(self) -> FlakyClickHouse:
        self.connects += 1
        return self

    def query(self, _: Any) -> str:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ClickHouseError("Connection refused", retryable=self.retryable)
        return "done"

    def close(self) -> None:
        self.closes += 1


class FakeConsumer:
    def __init__(self, clock: Clock, partitions: Sequence[tuple[str, int]]) -> None:
        self.clock = clock
        self._assignment = [TopicPartition(t, p) for t, p in partitions]
        self.paused: set[tuple[str, int]] = set()
        self.polls = 0
        #: runs inside consume(), as a rebalance callback would
        self.on_consume: Callable[[], list[Any]] = list
        self.commits: list[list[tuple[str, int, int]]] = []
        self.commit_failures = 0
        self.seeks: list[tuple[str, int, int]] = []
        self.seek_failures = 0
        self.committed_offsets: dict[tuple[str, int], int] = {}

    def assignment(self) -> list[TopicPartition]:
        return list(self._assignment)

    def pause(self, tps: list[TopicPartition]) -> None:
        self.paused |= {(tp.topic, tp.partition) for tp in tps}

    def resume(self, tps: list[TopicPartition]) -> None:
        self.paused -= {(tp.topic, tp.partition) for tp in tps}

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        self.polls += 1
        self.clock.now += timeout
        return self.on_consume()

    def seek(self, tp: TopicPartition) -> None:
        if self.seek_failures:
            self.seek_failures -= 1
            raise KafkaException(KafkaError(KafkaError._OUTDATED))
        self.seeks.append((tp.topic, tp.partition, tp.offset))

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.committed_offsets.get(
                (tp.topic, tp.partition), OFFSET_INVALID))
            for tp in tps
        ]  # fmt: skip

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert asynchronous is False
        if self.commit_failures:
            self.commit_failures -= 1
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])


def errors(kind: str) -> float:
    return REGISTRY.get_sample_value("funnelwatch_sink_errors_total", {"kind": kind}) or 0.0


def attach(gate: Gate, consumer: FakeConsumer) -> FakeConsumer:
    gate.consumer = consumer
    return consumer


def new_gate(ch: FlakyClickHouse, retry_max: float = 5.0) -> Gate:
    return Gate(ch.connect, retry_max, threading.Event())


def test_retryable_errors_are_retried_with_a_growing_bounded_backoff(clock: Clock) -> None:
    ch = FlakyClickHouse(failures=6)
    before = errors("retry")
    assert new_gate(ch, retry_max=1.5).clickhouse(ch.query) == "done"
    assert clock.sleeps == [0.25, 0.5, 1.0, 1.5, 1.5, 1.5]
    assert ch.calls == 7
    assert ch.connects == 7 and ch.closes == 6  # a fresh connection after each failure
    assert errors("retry") - before == 6


def test_an_error_retrying_cannot_fix_is_fatal_at_once(clock: Clock) -> None:
    ch = FlakyClickHouse(failures=1, retryable=False)
    before = errors("fatal")
    with pytest.raises(Fatal, match="refused a request"):
        new_gate(ch).clickhouse(ch.query)
    assert ch.calls == 1 and clock.sleeps == []
    assert errors("fatal") - before == 1


def test_partitions_are_paused_during_an_outage_and_resumed_after(clock: Clock) -> None:
    ch = FlakyClickHouse(failures=3)
    gate = new_gate(ch)
    consumer = attach(gate, FakeConsumer(clock, [("forms", 0), ("clicks", 0)]))
    paused_during: list[set[tuple[str, int]]] = []

    def work(client: Any) -> str:
        paused_during.append(set(consumer.paused))
        return ch.query(client)

    assert gate.clickhouse(work) == "done"
    assert paused_during[0] == set()  # no outage yet
    assert paused_during[-1] == {("forms", 0), ("clicks", 0)}
    assert consumer.polls > 0  # it kept polling: heartbeats and rebalances go on
    assert clock.sleeps == []  # waited by polling, not by sleeping
    gate.resume()
    assert consumer.paused == set()


def test_resuming_after_an_outage_keeps_partitions_held_back_for_alignment(
    clock: Clock,
) -> None:
    ch = FlakyClickHouse(failures=1)
    gate = new_gate(ch)
    consumer = attach(gate, FakeConsumer(clock, [("forms", 0), ("clicks", 0)]))
    gate.hold_back({("forms", 0)})
    assert consumer.paused == {("forms", 0)}
    gate.clickhouse(ch.query)
    gate.resume()
    assert consumer.paused == {("forms", 0)}
    gate.hold_back(set())
    assert consumer.paused == set()


def test_a_batch_whose_partitions_were_revoked_during_the_wait_is_abandoned(
    clock: Clock,
) -> None:
    ch = FlakyClickHouse(failures=100)
    gate = new_gate(ch)
    consumer = attach(gate, FakeConsumer(clock, [("forms", 0)]))

    def revoke() -> list[Any]:
        gate.abandoned = True  # what the loop's revoke callback does
        return []

    consumer.on_consume = revoke
    with pytest.raises(Abandoned, match="revoked"):
        gate.clickhouse(ch.query)
    assert ch.calls == 1


def test_records_arriving_for_a_paused_partition_abandon_the_batch(clock: Clock) -> None:
    ch = FlakyClickHouse(failures=100)
    gate = new_gate(ch)
    consumer = attach(gate, FakeConsumer(clock, [("forms", 0)]))
    consumer.on_consume = lambda: ["a record of a newly assigned partition"]
    with pytest.raises(Abandoned):
        gate.clickhouse(ch.query)
    assert gate.abandoned


def test_a_wait_inside_a_rebalance_callback_sleeps_instead_of_polling(clock: Clock) -> None:
    ch = FlakyClickHouse(failures=2)
    gate = new_gate(ch)
    consumer = attach(gate, FakeConsumer(clock, [("forms", 0)]))
    gate.in_callback = True
    assert gate.clickhouse(ch.query) == "done"
    assert consumer.polls == 0 and clock.sleeps == [0.25, 0.5]


def test_a_stopping_worker_abandons_its_wait(clock: Clock) -> None:
    ch = FlakyClickHouse(failures=100)
    stopping = threading.Event()
    gate = Gate(ch.connect, 5.0, stopping)
    consumer = attach(gate, FakeConsumer(clock, [("forms", 0)]))

    def stop() -> list[Any]:
        stopping.set()
        return []

    consumer.on_consume = stop
    with pytest.raises(Abandoned, match="shutting down"):
        gate.clickhouse(ch.query)


def test_commits_are_retried_while_the_broker_is_away(clock: Clock) -> None:
    gate = new_gate(FlakyClickHouse(0))
    consumer = attach(gate, FakeConsumer(clock, [("forms", 0)]))
    consumer.commit_failures = 3
    gate.commit({("forms", 0): 42, ("crm", 1): 7})
    assert consumer.commits == [[("forms", 0, 42), ("crm", 1, 7)]]


def test_a_commit_failing_after_the_partitions_were_revoked_is_abandoned(clock: Clock) -> None:
    gate = new_gate(FlakyClickHouse(0))
    consumer = attach(gate, FakeConsumer(clock, [("forms", 0)]))
    consumer.commit_failures = 1
    gate.abandoned = True
    with pytest.raises(Abandoned):
        gate.commit({("forms", 0): 42})
    assert consumer.commits == []


class FakeProducer:
    def __init__(self, unacknowledged: list[int]) -> None:
        self.unacknowledged = unacknowledged

    def flush(self, timeout: float) -> int:
        return self.unacknowledged.pop(0) if self.unacknowledged else 0


def test_flush_waits_until_the_broker_acknowledged_everything(clock: Clock) -> None:
    gate = new_gate(FlakyClickHouse(0))
    producer = FakeProducer([5, 2, 0])
    gate.flush(producer)
    assert producer.unacknowledged == []
    assert clock.sleeps == [0.5, 0.5]


def test_a_record_the_broker_refused_is_fatal(clock: Clock) -> None:
    gate = new_gate(FlakyClickHouse(0))
    gate.on_delivery(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), None)
    with pytest.raises(Fatal, match="refused 1 records"):
        gate.flush(FakeProducer([0]))
    assert gate.delivery_errors == []


def test_a_long_outage_is_logged_in_a_few_lines_with_counts(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=gate_module.__name__)
    ch = FlakyClickHouse(failures=2000)
    gate = new_gate(ch, retry_max=0.5)
    gate.held = 1234
    assert gate.clickhouse(ch.query) == "done"
    lines = [r.getMessage() for r in caplog.records if r.name == gate_module.__name__]
    outage_minutes = clock.now / 60  # about 1000 s of failures
    assert clock.now > 900
    assert 2 <= len(lines) <= outage_minutes + 3
    assert "ClickHouse unreachable" in lines[0] and "1234 records held" in lines[0]
    assert "still unreachable" in lines[1]
    assert "reachable again" in lines[-1] and "(2000 attempts)" in lines[-1]


def test_a_failed_seek_back_reads_again_from_the_committed_offsets(clock: Clock) -> None:
    gate = new_gate(FlakyClickHouse(failures=0))
    consumer = attach(gate, FakeConsumer(clock, [("t", 0), ("t", 1)]))
    gate.seek_back({("t", 0): 7})
    assert consumer.seeks == [("t", 0, 7)]
    # a rebalance overtook the seek: held records must not be skipped by the next commit
    consumer.seeks, consumer.seek_failures = [], 1
    consumer.committed_offsets = {("t", 0): 5}
    gate.seek_back({("t", 0): 7, ("t", 1): 3})
    assert consumer.seeks == [("t", 0, 5), ("t", 1, OFFSET_BEGINNING)]
