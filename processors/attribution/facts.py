"""Funnel facts: the rows the hot path writes and every KPI is computed from.

A fact is one valid event as attributed: its stage, minute, campaign and segment,
money, whether it is the one ``counted`` for its entity and stage, and a ``version``.
Invariant: for one (minute, stage, event_id) a later version never carries older
knowledge, so "highest version wins" is the truth after any replay. Click facts depend
on the click alone and always have version 1; lead facts carry the lead's revision.
"""

from __future__ import annotations

from typing import NamedTuple

#: (topic, partition, offset) of the record an event came from, kept for audits
Source = tuple[str, int, int]


class Fact(NamedTuple):
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
    #: the partition of the lead's key (its owner), 0 for clicks: restores read by it
    lead_partition: int


FACT_COLUMNS: tuple[str, ...] = Fact._fields


def minute_of(event_time_ms: int) -> int:
    """Epoch seconds of the minute an event time (epoch ms) falls in."""
    return event_time_ms // 60_000 * 60
