"""``funnelwatch spend import`` against a real broker: a sample lands on the ad-spend topic
exactly as parsed; a malformed file exits non-zero and produces nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

import funnelwatch.connectors.spend
from funnelwatch.connectors.spend.importer import load_report
from funnelwatch.connectors.spend.model import ImportOptions, zone_of
from funnelwatch.settings import Settings, load_settings
from funnelwatch.streams.admin import ensure_topics
from funnelwatch.streams.catalogue import catalogue

pytestmark = pytest.mark.integration

SAMPLE = Path(funnelwatch.connectors.spend.__file__).parent / "samples" / "google_ads_hourly.csv"
PARTITIONS = 3
ACCOUNT = "123-456-7890"


def fresh_settings(bootstrap: str) -> Settings:
    settings = load_settings(
        topic_prefix=f"spend-{uuid.uuid4().hex[:8]}", kafka_bootstrap=bootstrap,
        partitions=PARTITIONS,
    )  # fmt: skip
    ensure_topics(bootstrap, [catalogue(settings).spend])
    return settings


def run_import(
    settings: Settings, path: Path, reported_at: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELWATCH_")}
    env |= {
        "FUNNELWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "FUNNELWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "FUNNELWATCH_PARTITIONS": str(PARTITIONS),
    }
    return subprocess.run(
        [sys.executable, "-m", "funnelwatch.cli", "spend", "import", str(path),
         "--format", "google_ads", "--timezone", "Europe/Berlin", "--account", ACCOUNT,
         "--reported-at", reported_at],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def read_topic(
    settings: Settings, expected: int, timeout: float = 30.0
) -> list[tuple[bytes, bytes]]:
    """Every record of the spend topic: waits for ``expected``, then a while for any more."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.topic_prefix}-check",
            "enable.auto.commit": False,
        }
    )
    topic = catalogue(settings).spend.name
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    landed: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    settle = None
    try:
        while time.monotonic() < deadline:
            if len(landed) >= expected:
                settle = settle or time.monotonic() + 2.0  # nothing beyond them arrives
                if time.monotonic() > settle:
                    break
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                assert message.error() is None, message.error()
                key, value = message.key(), message.value()
                assert key is not None and value is not None
                landed.append((key, value))
    finally:
        consumer.close()
    return landed


def test_a_sample_is_produced_exactly_as_parsed(kafka_bootstrap: str) -> None:
    settings = fresh_settings(kafka_bootstrap)
    reported_at = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    done = run_import(settings, SAMPLE, reported_at.isoformat())
    assert done.returncode == 0, done.stderr
    expected = list(
        load_report(SAMPLE, "google_ads", ImportOptions(zone_of("Europe/Berlin"), ACCOUNT),
                    reported_at=reported_at).records()
    )  # fmt: skip
    assert len(expected) == 12
    assert sorted(read_topic(settings, len(expected))) == sorted(expected)
    topic = catalogue(settings).spend.name
    assert done.stderr.splitlines()[-1].endswith(f"(--reported-at); produced to {topic}")

    # the same file and report time again: the same records (the pipeline drops them by id)
    assert run_import(settings, SAMPLE, reported_at.isoformat()).returncode == 0
    assert sorted(read_topic(settings, 2 * len(expected))) == sorted(expected * 2)


def test_a_malformed_file_exits_non_zero_and_produces_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = fresh_settings(kafka_bootstrap)
    text = SAMPLE.read_bytes().decode("utf-16")
    lines = text.splitlines(keepends=True)
    # row 15, the last data row before the totals, gets a bad cost
    assert lines[14].endswith("\t5.37\r\n")
    lines[14] = lines[14].replace("\t5.37\r\n", "\t5,3x\r\n")
    bad = tmp_path / "google_ads_bad.csv"
    bad.write_bytes("".join(lines).encode("utf-16"))
    reported_at = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    done = run_import(settings, bad, reported_at)
    assert done.returncode == 1
    assert done.stderr == (
        f'funnelwatch spend import: error: {bad}: row 15, column "Cost": "5,3x" is not an amount\n'
    )
    assert read_topic(settings, 0, timeout=5.0) == []
