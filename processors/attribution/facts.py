"""Funnel facts: the rows the hot path writes and every KPI is computed from.

A fact is one valid event as attributed: its stage, minute, campaign and segment
(the dimensions it counts under, named, with its values),
money, whether it is the one ``counted`` for its entity and stage, and a ``version``.
Invariant: for one (minute, stage, event_id) a later version never carries older
knowledge, so "highest version wins" is the truth after any replay. Click facts depend
on the click alone and always have version 1; lead facts carry the lead's revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

#: (topic, partition, offset) of the record an event came from, kept for audits
Source = tuple[str, int, int]


class Fact(NamedTuple):
    minute: int
    stage: str
    event_id: str
    event_time_ms: int
    campaign_id: str
    #: the segment dimensions this fact is counted under, and its value of each
    dim_names: tuple[str, ...]
    dim_values: tuple[str, ...]
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
#: the columns holding arrays (tuples in a Fact, lists on the way to ClickHouse)
ARRAY_COLUMNS = frozenset({"dim_names", "dim_values"})


def fact_columns(facts: Sequence[Fact]) -> dict[str, list[Any]]:
    """Facts as columns, ready for ``insert_columns``."""
    rows: list[tuple[Any, ...]] = list(facts)
    return {
        name: [list(f[i]) for f in rows] if name in ARRAY_COLUMNS else [f[i] for f in rows]
        for i, name in enumerate(FACT_COLUMNS)
    }


def segment_value_sql(dim: str, unknown: str) -> str:
    """SQL of a fact's value of dimension ``dim`` (both arguments SQL expressions):
    ``unknown`` for a dimension the fact was not written under (a click's lead-level
    dimension, a dimension added after it was written). ``all`` is not a dimension of
    the arrays: callers test it themselves."""
    at = f"indexOf(dim_names, {dim})"
    return f"if({at} = 0, {unknown}, arrayElement(dim_values, {at}))"


def minute_of(event_time_ms: int) -> int:
    """Epoch seconds of the minute an event time (epoch ms) falls in."""
    return event_time_ms // 60_000 * 60
