"""Spend reports as the rows of ``ad_spend``: what the hot path writes for each report.

Invariant: a report's row depends on the report and its source position alone, so a
replay writes an identical row (folded by the table's ReplacingMergeTree); which report
of a period counts is decided by readers (:mod:`.sql`), never here, so the order in
which reports arrive changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.schemas.decode import event_ms

from ..attribution.facts import Source


class SpendRow(NamedTuple):
    campaign_id: str
    platform: str
    account_id: str
    ad_group_id: str
    ad_id: str
    period_start: int
    period_seconds: int
    reported_at_ms: int
    event_id: str
    spend_micros: int
    currency: str
    clicks: int
    impressions: int
    source_topic: str
    source_partition: int
    source_offset: int


SPEND_COLUMNS: tuple[str, ...] = SpendRow._fields


def spend_row(report: Any, src: Source) -> SpendRow:
    """The row of one decoded ``ad_spend`` event read at ``src``."""
    topic, partition, offset = src
    return SpendRow(
        report.campaign_id,
        report.platform,
        report.account_id,
        report.ad_group_id,
        report.ad_id,
        int(report.period_start.timestamp()),  # a whole minute: the float is exact
        report.period_seconds,
        event_ms(report),
        report.event_id,
        report.spend_micros,
        report.currency,
        report.clicks,
        report.impressions,
        topic,
        partition,
        offset,
    )


def write_spend(client: ClickHouse, rows: Sequence[SpendRow]) -> None:
    columns = {name: [row[i] for row in rows] for i, name in enumerate(SPEND_COLUMNS)}
    client.insert_columns("ad_spend", columns)
