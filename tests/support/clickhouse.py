"""ClickHouse helpers shared by tests: a database of a test's own, facts and alert rows
with defaults."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from funnelwatch.clickhouse import ClickHouse, connect
from funnelwatch.processors.alerting.store import alert_row
from funnelwatch.processors.attribution.facts import Fact, fact_columns, segment_value_sql
from funnelwatch.processors.attribution.rules import UNKNOWN
from funnelwatch.processors.detectors.lifecycle import Alert
from funnelwatch.schemas.migrate import migrate


def server_database_url(url: str, database: str) -> str:
    """The same server, another database."""
    return url.rsplit("/", 1)[0] + "/" + database


def fresh_database(url: str, name: str) -> ClickHouse:
    """A migrated client on an empty database: a chDB directory is new for each test; on
    the shared server the database ``name`` is dropped and created again."""
    client = connect(url)
    if url.startswith("clickhouse://"):
        database = name.replace("-", "_")
        client.execute(f"DROP DATABASE IF EXISTS {database}")
        client.execute(f"CREATE DATABASE {database}")
        client.close()
        client = connect(server_database_url(url, database))
    migrate(client)
    return client


def drop_database(url: str, name: str) -> None:
    """Drop what :func:`fresh_database` made on the shared server (chDB: nothing to do)."""
    if url.startswith("clickhouse://"):
        client = connect(url)
        try:
            client.execute(f"DROP DATABASE IF EXISTS {name.replace('-', '_')}")
        finally:
            client.close()


def write_facts(client: ClickHouse, facts: Sequence[Fact]) -> None:
    """Insert facts into ``funnel_facts`` alone, as the hot path's checkpoint does (the
    click and lead indexes follow by their materialized views; no KPIs)."""
    client.insert_columns("funnel_facts", fact_columns(facts))


#: the click dimensions of the built-in segment set, by the click attribute they read
_CLICK_SEGMENT = {"channel": "channel", "ad_group_id": "ad_group", "device": "device",
                  "geo": "geo"}  # fmt: skip


def make_fact(minute: int, stage: str, event_id: str, campaign_id: str, **fields: Any) -> Fact:
    """A counted fact of one click-attributed google/ag1/mobile/DE event; ``fields``
    override (``channel``, ``ad_group_id``, ``device``, ``geo`` set those values;
    ``segments``, a {dimension: value} dict, replaces the whole segment)."""
    segment = {"channel": "google", "ad_group": "ag1", "device": "mobile", "geo": "DE"}
    for attribute, name in _CLICK_SEGMENT.items():
        if attribute in fields:
            segment[name] = fields.pop(attribute)
    segment = fields.pop("segments", segment)
    values: dict[str, Any] = dict(
        minute=minute,
        stage=stage,
        event_id=event_id,
        event_time_ms=minute * 1000,
        campaign_id=campaign_id,
        dim_names=tuple(segment),
        dim_values=tuple(segment.values()),
        attribution="click",
        lead_id="",
        click_id="",
        cost_micros=0,
        revenue_micros=0,
        counted=1,
        version=1,
        source_topic="t",
        source_partition=0,
        source_offset=0,
        lead_partition=0,
    )
    values.update(fields)
    return Fact(**values)


#: A whole minute (epoch seconds): the minute ``fact`` counts its minutes from.
BASE = 1_795_910_400


def fact(i: int, stage: str, minute: int, campaign: str = "A", version: int = 1, **kw: Any) -> Fact:
    """Fact number ``i`` (event ``e<i>``, source offset ``i``), ``minute`` minutes after BASE."""
    t = BASE + minute * 60
    return make_fact(t, stage, f"e{i}", campaign, version=version, source_offset=i, **kw)


def click_lead_alert_row(
    alert_id: str,
    campaign: str,
    kind: str,
    status: str,
    at: int,
    *,
    resolved_at: int = 0,
    baseline: float,
    leads_lost: float,
    summary: str,
    version: int,
) -> tuple[Any, ...]:
    """An ``alerts`` row as the detectors write it (``ALERT_COLUMNS``): a click→lead
    conversion alert over all segments, started 5 and fired 4 minutes before ``at``,
    its current rate zero."""
    alert = Alert(
        alert_id,
        kind,
        status,
        campaign,
        "conversion",
        "click",
        "lead",
        ("all=all",),
        at - 300,
        at - 240,
        resolved_at,
        baseline,
        0.0,
        leads_lost,
        summary,
    )
    row: tuple[Any, ...] = alert_row(alert, version)
    return row


def value_sql(dim: str) -> str:
    """SQL of a fact row's value of segment dimension ``dim`` (a literal name)."""
    return segment_value_sql(f"'{dim}'", f"'{UNKNOWN}'")
