"""Small helpers that keep panel definitions short: one ClickHouse query per panel."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.models import dashboard as dm

from .board import Part
from .chquery import ClickHouseQuery
from .datasources import CLICKHOUSE, PROMETHEUS


def ts_panel(
    title: str,
    query: ClickHouseQuery,
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    description: str = "",
) -> Part:
    return Part(
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(CLICKHOUSE)
        .with_target(query)
        .interval("1m")  # buckets are whole minutes: the tables hold minutes
        .unit(unit)
        .span(w)
        .height(h),
        (query,),
    )


def table_panel(
    title: str, query: ClickHouseQuery, *, w: int = 24, h: int = 8, description: str = ""
) -> Part:
    return Part(
        table.Panel()
        .title(title)
        .description(description)
        .datasource(CLICKHOUSE)
        .with_target(query)
        .span(w)
        .height(h),
        (query,),
    )


def stat_panel(
    title: str,
    query: ClickHouseQuery,
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 4,
    description: str = "",
) -> Part:
    return Part(
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(CLICKHOUSE)
        .with_target(query)
        .unit(unit)
        .span(w)
        .height(h),
        (query,),
    )


def prom_panel(
    title: str,
    exprs: dict[str, str],
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    description: str = "",
) -> Part:
    """A Prometheus time series panel; ``exprs`` maps a legend format to a PromQL query."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit(unit)
        .span(w)
        .height(h)
    )
    for n, (legend, expr) in enumerate(exprs.items()):
        panel = panel.with_target(
            prometheus.Dataquery()
            .ref_id(chr(ord("A") + n))
            .datasource(PROMETHEUS)
            .expr(expr)
            .legend_format(legend)
            .range()
        )
    return Part(panel)


def query_variable(
    name: str,
    label: str,
    query: ClickHouseQuery,
    *,
    multi: bool,
    include_all: bool = True,
    sort: bool = True,
) -> Part:
    """A variable filled by a ClickHouse query (first column), sorted alphabetically
    unless ``sort`` is False (then in the query's order: its first value is the
    default); multi ones include All unless ``include_all`` is False."""
    model: dict[str, Any] = query.build().to_json()
    variable = (
        db.QueryVariable(name)
        .label(label)
        .datasource(CLICKHOUSE)
        .query(model)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC if sort else dm.VariableSort.DISABLED)
    )
    if multi:
        variable = variable.multi(True).include_all(include_all)
    return Part(variable, (query,))
