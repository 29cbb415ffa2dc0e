"""The local stack starts real Kafka and ClickHouse servers that clients can use,
and stops them so that nothing keeps listening."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from funnelwatch.localstack.clickhouse_server import LocalClickHouseServer
from funnelwatch.localstack.kafka import LocalKafka, is_reachable
from funnelwatch.localstack.ports import free_port, is_listening

pytestmark = pytest.mark.integration


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    broker = LocalKafka(tmp_path / "kafka", port=free_port())
    broker.install()  # a no-op once the jars are in ~/.cache/funnelwatch
    broker.start()
    try:
        broker.wait_ready()
        yield broker
    finally:
        broker.stop()


def _create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        admin.wait_for_topics([name], timeout_ms=30_000)
    finally:
        admin.close()


def _consume(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[bytes]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id="localstack-test",  # a group exercises the group coordinator, as Faust does
        auto_offset_reset="earliest",
    )
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in records)
    finally:
        consumer.close()
    return values


def test_local_kafka_accepts_produce_and_consume_after_start(tmp_path: Path) -> None:
    kafka = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port())
    kafka.install()  # a no-op once the jars are in ~/.cache/funnelwatch
    kafka.start()
    try:
        kafka.wait_ready()
        _create_topic(kafka.bootstrap, "localstack-check", partitions=3)
        admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        [topic] = admin.describe_topics(["localstack-check"])
        admin.close()
        assert len(topic["partitions"]) == 3

        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
        sent = [f"message-{i}".encode() for i in range(100)]
        partitions = {
            producer.send("localstack-check", key=str(i).encode(), value=value).get(30).partition
            for i, value in enumerate(sent)
        }
        producer.close()
        received = _consume(kafka.bootstrap, "localstack-check", expected=len(sent))
    finally:
        kafka.stop()

    assert partitions == {0, 1, 2}
    assert sorted(received) == sorted(sent)
    assert not is_listening("127.0.0.1", kafka.port)
    assert not is_listening("127.0.0.1", kafka.controller_port or 0)


def test_local_kafka_used_as_context_manager_leaves_no_broker_or_pidfile(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "kafka", port=free_port())
    broker.install()
    with broker:
        assert is_reachable(broker.bootstrap)
        assert broker.pid_file.is_file()

    assert not is_listening("127.0.0.1", broker.port)
    assert not broker.pid_file.exists()
    assert broker.status().startswith("stopped")


def test_local_kafka_is_stopped_from_another_process_through_its_pidfile(
    kafka: LocalKafka,
) -> None:
    cli = [sys.executable, "-m", "funnelwatch.localstack.kafka"]
    where = ["--home", str(kafka.home), "--port", str(kafka.port)]

    status = subprocess.run([*cli, "status", *where], capture_output=True, text=True, check=True)
    assert "ready" in status.stdout
    stop = subprocess.run([*cli, "stop", *where], capture_output=True, text=True, check=True)

    assert stop.stdout.strip() == "stopped"
    assert not is_listening("127.0.0.1", kafka.port)


def test_local_kafka_keeps_topics_and_messages_across_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "kafka"
    with LocalKafka(home, port=free_port()) as first:
        _create_topic(first.bootstrap, "survives-restart", partitions=2)
        producer = KafkaProducer(bootstrap_servers=first.bootstrap, acks="all")
        producer.send("survives-restart", b"kept").get(30)
        producer.close()

    # Same home, new ports: the controller port comes from the config, not the data.
    with LocalKafka(home, port=free_port()) as second:
        assert _consume(second.bootstrap, "survives-restart", expected=1) == [b"kept"]


def test_local_clickhouse_server_stores_and_returns_rows_until_stopped(tmp_path: Path) -> None:
    server = LocalClickHouseServer(tmp_path / "clickhouse")
    server.start()
    try:
        assert server.url == f"clickhouse://default@127.0.0.1:{server.tcp_port}/default"
        assert server.version.split(".")[0].isdigit()
        client = Client.from_url(server.url)
        client.execute(
            "CREATE TABLE kpi (day Date, campaign String, clicks UInt64) "
            "ENGINE = MergeTree ORDER BY (day, campaign)"
        )
        rows = [(date(2024, 5, d), f"c{d % 3}", d) for d in range(1, 31)]
        client.execute("INSERT INTO kpi (day, campaign, clicks) VALUES", rows)
        assert client.execute(
            "SELECT campaign, count(), sum(clicks) FROM kpi GROUP BY campaign ORDER BY campaign"
        ) == [("c0", 10, 165), ("c1", 10, 145), ("c2", 10, 155)]
        client.disconnect()
    finally:
        server.stop()

    assert not is_listening("127.0.0.1", server.tcp_port)


def test_local_clickhouse_server_admits_the_funnelwatch_user_only_with_its_password(
    tmp_path: Path,
) -> None:
    with LocalClickHouseServer(tmp_path / "clickhouse", password="s3cret-for-test") as server:
        right = Client.from_url(server.funnelwatch_url)
        assert right.execute("SELECT 1") == [(1,)]
        right.disconnect()

        wrong = Client(host="127.0.0.1", port=server.tcp_port, user="funnelwatch", password="x")
        with pytest.raises(ServerException):
            wrong.execute("SELECT 1")
        wrong.disconnect()
