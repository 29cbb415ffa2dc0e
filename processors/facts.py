"""Funnel facts: what the join agents emit and the ClickHouse sink stores.

A fact is one valid event as attributed: its stage, minute, campaign and segment
attributes, money, whether it is the one ``counted`` for its entity and stage, and a
``version``. Invariant: for one (minute, stage, event_id) a later version never
carries older knowledge, so "highest version wins" is the truth after any replay.
"""

from __future__ import annotations

from typing import Any, TypedDict

FACT_COLUMNS = (
    "minute",
    "stage",
    "event_id",
    "event_time_ms",
    "campaign_id",
    "channel",
    "ad_group_id",
    "device",
    "geo",
    "attribution",
    "lead_id",
    "click_id",
    "cost_micros",
    "revenue_micros",
    "counted",
    "version",
    "source_topic",
    "source_partition",
    "source_offset",
)

#: (topic, partition, offset) of the record an event came from, kept for audits.
Source = tuple[str, int, int]


class Fact(TypedDict):
    minute: int
    stage: str
    event_id: str
    event_time_ms: int
    campaign_id: str
    channel: str
    ad_group_id: str
    device: str
    geo: str
    attribution: str
    lead_id: str
    click_id: str
    cost_micros: int
    revenue_micros: int
    counted: int
    version: int
    source_topic: str
    source_partition: int
    source_offset: int


def minute_of(event_time_ms: int) -> int:
    return event_time_ms // 60_000 * 60


def fact_row(fact: Fact) -> tuple[Any, ...]:
    return tuple(fact[c] for c in FACT_COLUMNS)  # type: ignore[literal-required]


def fact_identity(fact: Fact) -> tuple[int, str, str]:
    return fact["minute"], fact["stage"], fact["event_id"]
