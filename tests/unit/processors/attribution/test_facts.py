"""Fact rows: the columns written to funnel_facts, and the minute an event counts in."""

from __future__ import annotations

from funnelwatch.processors.attribution.facts import FACT_COLUMNS, Fact, fact_columns, minute_of


def test_fact_columns_end_with_the_leads_partition() -> None:
    assert FACT_COLUMNS[:3] == ("minute", "stage", "event_id")
    assert FACT_COLUMNS[-1] == "lead_partition"
    assert len(set(FACT_COLUMNS)) == len(FACT_COLUMNS) == 18


def test_a_facts_segment_travels_as_two_arrays_of_names_and_values() -> None:
    fact = Fact(60, "click", "e1", 60_000, "cmp-a", ("channel", "geo"), ("google", "DE"),
                "click", "", "k1", 1, 0, 1, 1, "clicks", 0, 7, 0)  # fmt: skip
    columns = fact_columns([fact])
    assert columns["dim_names"] == [["channel", "geo"]]
    assert columns["dim_values"] == [["google", "DE"]]
    assert columns["campaign_id"] == ["cmp-a"]


def test_an_event_counts_in_the_minute_it_falls_in() -> None:
    minute = 1_795_910_400
    assert minute_of(minute * 1000) == minute
    assert minute_of(minute * 1000 + 59_999) == minute
    assert minute_of(minute * 1000 + 60_000) == minute + 60
