"""The throughput benchmark's reference loop does the worker's job: same KPIs, same dead letters.

The simulator sends a small backlog (duplicates, out-of-order CRM events, malformed
records) to real Kafka; the reference loop (benchmarks/reference.py) drains it into
embedded chDB. Its ``kpi_minute`` (and ``conversion_rolling``) equals the offline
oracle, row for row, and every
malformed record is in the dead-letter topic with its reason: the ratio the benchmark
prints compares the worker with a loop doing the same work.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition

from benchmarks.reference import Ends, ReferenceConfig, run
from funnelwatch.clickhouse import connect
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.settings import load_settings
from funnelwatch.streams.admin import ensure_topics
from funnelwatch.streams.catalogue import catalogue
from funnelwatch.streams.simulator.cli import main as simulate
from tests.support.oracle import expected, valid_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

EVENTS = 20_000
WINDOWS = (15, 60, 1440)


Rows = dict[tuple[Any, ...], tuple[Any, ...]]


def _rows(url: str) -> tuple[Rows, Rows]:
    """kpi_minute and conversion_rolling as tests/e2e/test_pipeline_exact.py reads them."""
    client = connect(url)
    try:
        kpi = {
            (r[0], r[1], r[2], r[3], r[4]): (r[5], r[6], r[7])
            for r in client.execute(
                "SELECT toUInt32(minute), campaign_id, dim, dim_value, stage, events, "
                "cost_micros, revenue_micros FROM kpi_minute FINAL"
            )
            if any(r[5:])
        }
        rolling = {
            tuple(r[:7]): (r[7], r[8])
            for r in client.execute(
                "SELECT toUInt32(minute), campaign_id, dim, dim_value, window_minutes, "
                "from_stage, to_stage, from_events, to_events FROM conversion_rolling FINAL"
            )
            if r[7] or r[8]
        }
    finally:
        client.close()
    return kpi, rolling


def _diff(name: str, got: Rows, want: Rows) -> str:
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    wrong = [(k, got[k], want[k]) for k in want if k in got and got[k] != want[k]]
    return (
        f"{name}: {len(want)} expected, {len(got)} found; {len(missing)} missing "
        f"{missing[:5]}; {len(extra)} extra {extra[:5]}; {len(wrong)} wrong (got, want) "
        f"{wrong[:5]}"
    )


def _dead_letters(bootstrap: str, topic: str) -> dict[bytes, str]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        group_id=None,
    )
    found = {}
    for record in consumer:
        headers = dict(record.headers)
        assert headers["source_topic"].decode() and headers["source_offset"].decode().isdigit()
        found[record.value] = headers["reason"].decode()
    consumer.close()
    return found


def _value_bytes(record: dict[str, Any]) -> bytes:
    if record.get("value_encoding") == "base64":
        return base64.b64decode(record["value"])
    return str(record["value"]).encode()


def _end_offsets(bootstrap: str, topics: list[str], partitions: int) -> Ends:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [KafkaTopicPartition(t, p) for t in topics for p in range(partitions)]
        return {
            TopicPartition(tp.topic, tp.partition): n for tp, n in consumer.end_offsets(tps).items()
        }
    finally:
        consumer.close()


@pytest.mark.parametrize("order", ["as-sent", "clicks-last"])
def test_reference_loop_kpis_equal_the_oracle(
    kafka_bootstrap: str, tmp_path: Path, order: str
) -> None:
    """``clicks-last`` reads every form and CRM event first, then the clicks: each form
    naming a click is attributed by utm, then re-attributed when its click arrives."""
    prefix = f"ref-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix, data_dir=tmp_path
    )
    cat = catalogue(settings)
    ensure_topics(kafka_bootstrap, cat.all())
    truth = tmp_path / "ground-truth.jsonl"
    argv = ["--events", str(EVENTS), "--seed", "7", "--clicks-per-minute", "1000",
            "--duplicates", "0.01", "--out-of-order", "0.02", "--malformed", "0.005",
            "--ground-truth", str(truth)]  # fmt: skip
    assert simulate(argv, settings) == 0

    url = f"chdb://{tmp_path / 'chdb'}"
    config = ReferenceConfig(kafka_bootstrap, prefix, url, windows=WINDOWS, settings=settings)
    first: Ends | None = None
    if order == "clicks-last":
        first = _end_offsets(kafka_bootstrap, [cat.forms.name, cat.crm.name], cat.forms.partitions)
    result = asyncio.run(run(config, first, log=lambda _: None))
    read_first = result["preload"]["records"] if first is not None else 0
    assert result["records"] + read_first == EVENTS

    want = expected(valid_events(truth), load_funnel(), WINDOWS)
    got_kpi, got_rolling = _rows(url)
    # pytest.fail, not assert: pytest's own diff of many rows is slow and unreadable
    if got_kpi != want.kpi:
        pytest.fail(_diff("kpi_minute", got_kpi, dict(want.kpi)))
    # the same rolling recompute as the roller's, over the whole range
    if got_rolling != want.rolling:
        pytest.fail(_diff("conversion_rolling", got_rolling, dict(want.rolling)))

    malformed = [json.loads(line) for line in truth.read_text().splitlines()]
    malformed = [r for r in malformed if not r["valid"]]
    assert len(malformed) >= EVENTS * 0.004
    dead_first = result["preload"]["dead_letters"] if first is not None else 0
    assert result["dead_letters"] + dead_first == len(malformed)
    dead = _dead_letters(kafka_bootstrap, cat.dead_letter.name)
    for record in malformed:
        value = _value_bytes(record)
        assert value in dead, f"malformed record missing from dead-letter: {record}"
        assert dead[value] == record["reason"], record
