"""What the exactness tests compare: the pipeline's rows, the oracle's, the dead letters."""

from __future__ import annotations

import base64
from typing import Any

from kafka import KafkaConsumer

from funnelwatch.clickhouse import connect
from funnelwatch.processors.spend.sql import parse_row, window_spend
from funnelwatch.schemas.funnel import load_funnel

from .oracle import Expected
from .oracle_spend import counted_reports
from .oracle_spend import window_spend as oracle_window_spend

Rows = dict[tuple[Any, ...], tuple[Any, ...]]
#: (campaign, window start, window end) -> (reported, provisional, spend, through)
SpendWindows = dict[tuple[str, int, int], tuple[int, int, int, int | None]]
SPEND_WINDOW_MINUTES = (15, 60, 1440)


def spend_windows_wanted(events: list[dict[str, Any]], want: Expected) -> SpendWindows:
    """The oracle's spend of every campaign in the windows of SPEND_WINDOW_MINUTES ending
    at each hour of the input and at its last minute."""
    click = load_funnel().stage_names[0]
    clicks = {
        (m, campaign): (n, cost)
        for (m, campaign, dim, _, stage), (n, cost, _) in want.kpi.items()
        if dim == "all" and stage == click
    }
    reports = counted_reports(events)
    campaigns = {c for _, c in clicks} | {r.campaign for r in reports}
    first, last = min(m for m, _ in clicks), max(m for m, _ in clicks) + 60
    ends = sorted({*range(first // 3600 * 3600 + 3600, last, 3600), last})
    out: SpendWindows = {}
    for end in ends:
        for minutes in SPEND_WINDOW_MINUTES:
            for campaign in campaigns:
                w = oracle_window_spend(reports, clicks, campaign, end - 60 * minutes, end)
                if w.clicks or w.has_reports:
                    out[(campaign, end - 60 * minutes, end)] = (
                        w.reported,
                        w.provisional,
                        w.spend,
                        w.through,
                    )
    return out


def spend_windows(url: str, like: SpendWindows) -> SpendWindows:
    """What the spend SQL gives for the windows of ``like`` (every campaign in each)."""
    client = connect(url)
    sql = window_spend("campaign_id != ''", "%(w0)s", "%(w1)s", "%(click)s")
    click = load_funnel().stage_names[0]
    out: SpendWindows = {}
    try:
        for t0, t1 in sorted({(t0, t1) for _, t0, t1 in like}):
            for row in map(parse_row, client.execute(sql, {"w0": t0, "w1": t1, "click": click})):
                if row.clicks or row.has_reports:
                    out[(row.campaign_id, t0, t1)] = (
                        row.reported_micros, row.provisional_micros, row.spend_micros,
                        row.reported_through,
                    )  # fmt: skip
    finally:
        client.close()
    return out


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
