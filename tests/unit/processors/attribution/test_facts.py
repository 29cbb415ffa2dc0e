"""Fact rows: the columns written to funnel_facts, and the minute an event counts in."""

from __future__ import annotations

from funnelwatch.processors.attribution.facts import FACT_COLUMNS, minute_of


def test_fact_columns_end_with_the_leads_partition() -> None:
    assert FACT_COLUMNS[:3] == ("minute", "stage", "event_id")
    assert FACT_COLUMNS[-1] == "lead_partition"
    assert len(set(FACT_COLUMNS)) == len(FACT_COLUMNS) == 20


def test_an_event_counts_in_the_minute_it_falls_in() -> None:
    minute = 1_795_910_400
    assert minute_of(minute * 1000) == minute
    assert minute_of(minute * 1000 + 59_999) == minute
    assert minute_of(minute * 1000 + 60_000) == minute + 60
