"""What the exactness tests compare: the pipeline's rows, the oracle's, the dead letters."""

from __future__ import annotations

import base64
from typing import Any

from kafka import KafkaConsumer

from funnelwatch.clickhouse import connect

Rows = dict[tuple[Any, ...], tuple[Any, ...]]


def pipeline_rows(url: str) -> tuple[Rows, Rows]:
    """``kpi_minute`` and ``conversion_rolling`` at their newest versions, zero rows left out
    (the oracle has no row where nothing happened)."""
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


def diff(name: str, got: Rows, want: Rows) -> str:
    """A short report of how two row sets differ (pytest's own diff of 100,000s of rows
    runs for many minutes)."""
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    wrong = [(k, got[k], want[k]) for k in want if k in got and got[k] != want[k]]
    return (
        f"{name}: {len(want)} expected, {len(got)} found; {len(missing)} missing "
        f"{missing[:5]}; {len(extra)} extra {extra[:5]}; {len(wrong)} wrong (got, want) "
        f"{wrong[:5]}"
    )


def dead_letters(bootstrap: str, topic: str) -> dict[bytes, str]:
    """Every dead-letter record's value and reason; each must name where it came from."""
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


def value_bytes(record: dict[str, Any]) -> bytes:
    """A ground-truth record's value as it was sent."""
    if record.get("value_encoding") == "base64":
        return base64.b64decode(record["value"])
    return str(record["value"]).encode()
