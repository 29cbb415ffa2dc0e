"""Every ClickHouse query of every board, expanded as Grafana would, on both backends.

One test per query, generated from the board definitions (panels, variables and
annotations), so a new panel cannot escape: each must run on simulator data, return
rows, and return exactly the columns, in order and of the kinds, its panel expects.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.grafana.board import LocatedQuery
from funnelwatch.grafana.boards import BOARDS
from funnelwatch.grafana.drilldown import CAMPAIGN_VARIABLE
from funnelwatch.grafana.macros import TimeRange
from tests.integration.grafana.conftest import OUTAGE_CAMPAIGN, SIMULATION
from tests.support.grafana_queries import columns, expanded, kind_of, rows

pytestmark = pytest.mark.integration

QUERIES = [q for board in BOARDS for q in board.clickhouse_queries()]
RANGE = TimeRange.of_seconds(SIMULATION.start, SIMULATION.end, interval_s=300)


def variables(client: ClickHouse) -> dict[str, str | Sequence[str]]:
    """Values as a user picks them: one campaign, then what Grafana fills each later
    variable with from its own query: its first value (a single-value variable's
    default), or every value of a multi-value one."""
    values: dict[str, str | Sequence[str]] = {"campaign": OUTAGE_CAMPAIGN}
    board = next(b for b in BOARDS if CAMPAIGN_VARIABLE in b.variables)
    for part in board.variables[1:]:
        (query,) = part.queries
        built = part.builder.build()
        found = [str(r[0]) for r in rows(client, expanded(query.sql, RANGE, values))]
        assert found, f"variable {built.name} has no values"
        values[str(built.name)] = found if built.multi else found[0]
    return values


@pytest.mark.parametrize("located", QUERIES, ids=[q.id for q in QUERIES])
def test_query_returns_the_columns_its_panel_expects(
    loaded: ClickHouse, located: LocatedQuery
) -> None:
    sql = expanded(located.query.sql, RANGE, variables(loaded))
    assert "$" not in sql.replace("'$", "")  # nothing left unexpanded

    described = columns(loaded, sql)
    assert [name for name, _ in described] == [name for name, _ in located.query.columns]
    for (name, ch_type), (_, kind) in zip(described, located.query.columns, strict=True):
        assert kind_of(ch_type) == kind, f"{name}: {ch_type} is not {kind.value}"

    result = rows(loaded, sql)
    assert result, "no rows on four hours of simulated traffic"
    if located.query.query_type == "timeseries":
        # the time column is a bucket start inside the range (not a string, not epoch 0)
        ((low, high),) = rows(
            loaded, f"SELECT min(toUInt32(time)), max(toUInt32(time)) FROM ({sql})"
        )
        assert SIMULATION.start - 300 < int(low) <= int(high) <= SIMULATION.end
