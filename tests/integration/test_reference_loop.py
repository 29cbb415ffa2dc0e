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
import json
import uuid
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition

from benchmarks.reference import Ends, ReferenceConfig, run
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.settings import load_settings
from funnelwatch.streams.admin import ensure_topics
from funnelwatch.streams.catalogue import catalogue
from funnelwatch.streams.simulator.cli import main as simulate
from tests.support.exactness import dead_letters, diff, pipeline_rows, value_bytes
from tests.support.oracle import expected, valid_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

EVENTS = 20_000
WINDOWS = (15, 60, 1440)


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
    got_kpi, got_rolling = pipeline_rows(url)
    # pytest.fail, not assert: pytest's own diff of many rows is slow and unreadable
    if got_kpi != want.kpi:
        pytest.fail(diff("kpi_minute", got_kpi, dict(want.kpi)))
    # the same rolling recompute as the roller's, over the whole range
    if got_rolling != want.rolling:
        pytest.fail(diff("conversion_rolling", got_rolling, dict(want.rolling)))

    malformed = [json.loads(line) for line in truth.read_text().splitlines()]
    malformed = [r for r in malformed if not r["valid"]]
    assert len(malformed) >= EVENTS * 0.004
    dead_first = result["preload"]["dead_letters"] if first is not None else 0
    assert result["dead_letters"] + dead_first == len(malformed)
    dead = dead_letters(kafka_bootstrap, cat.dead_letter.name)
    for record in malformed:
        value = value_bytes(record)
        assert value in dead, f"malformed record missing from dead-letter: {record}"
        assert dead[value] == record["reason"], record
