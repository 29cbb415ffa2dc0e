"""The cost KPIs as SQL (the boards' columns) give what the Python definition gives, on
both ClickHouse backends."""

from __future__ import annotations

import random

import pytest

from funnelwatch.clickhouse import connect
from funnelwatch.schemas.kpis import NAMES, cost_kpi_columns, cost_kpis

pytestmark = pytest.mark.integration
STAGES = ("click", "lead", "contacted", "qualified", "won")


def test_the_sql_kpis_equal_the_python_kpis(clickhouse_url: str) -> None:
    rng = random.Random(5)
    client = connect(clickhouse_url)
    try:
        for _ in range(20):
            counts = {s: rng.choice((0, 0, rng.randrange(1, 5000))) for s in STAGES}
            spend, revenue = rng.choice((0, rng.randrange(10**9))), rng.randrange(10**10)
            values = ", ".join(f"toInt64(%({s})s) AS {s}" for s in (*STAGES, "spend", "revenue"))
            columns = ", ".join(cost_kpi_columns(STAGES, lambda s: s, "spend", "revenue"))
            params = {**counts, "spend": spend, "revenue": revenue}
            row = client.execute(f"SELECT {columns} FROM (SELECT {values})", params)[0]
            got = dict(zip(NAMES, row, strict=True))
            want = cost_kpis(STAGES, counts.__getitem__, spend, revenue)
            for name in NAMES:
                if want[name] is None:
                    assert got[name] is None, name
                else:
                    assert float(str(got[name])) == pytest.approx(want[name], rel=1e-12), name
    finally:
        client.close()
