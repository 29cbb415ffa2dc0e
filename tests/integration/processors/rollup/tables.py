"""What the rollup tests read back: KPI and rolling rows, and a batch of facts."""

from __future__ import annotations

from typing import Any

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.attribution.facts import Fact
from tests.support.clickhouse import fact

Rows = set[tuple[Any, ...]]


def kpi_rows(c: ClickHouse) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    return {
        (int(m), str(cmp), str(dim), str(value), str(stage)): (int(n), int(cost), int(rev))
        for m, cmp, dim, value, stage, n, cost, rev in c.execute(
            "SELECT toUInt32(minute), campaign_id, dim, dim_value, stage, events, cost_micros, "
            "revenue_micros FROM kpi_minute FINAL"
        )
    }


def rolling_rows(c: ClickHouse) -> Rows:
    return {
        tuple(r)
        for r in c.execute(
            "SELECT toUInt32(minute), campaign_id, dim, dim_value, window_minutes, from_stage, "
            "to_stage, from_events, to_events FROM conversion_rolling FINAL "
            "WHERE from_events + to_events > 0"
        )
    }


def tables(c: ClickHouse) -> tuple[Rows, Rows]:
    kpi = {(*k, *v) for k, v in kpi_rows(c).items() if v[0] > 0}
    return kpi, rolling_rows(c)


def batch() -> list[Fact]:
    clicks = [fact(i, "click", i % 20, cost_micros=1_000_000) for i in range(200)]
    return [*clicks, *(fact(1000 + i, "lead", i * 2) for i in range(5))]
