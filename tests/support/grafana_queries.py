"""Run a board's ClickHouse query as Grafana would: variables and macros expanded.

The column types come from ``DESCRIBE TABLE (<query>)``, which ClickHouse 18.16 and
chDB both answer, so the check is the same on both backends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.grafana.chquery import Kind
from funnelwatch.grafana.macros import TimeRange, expand

_WRAPPER = re.compile(r"^(?:Nullable|LowCardinality)\((.*)\)$")


def kind_of(clickhouse_type: str) -> Kind | None:
    """The panel kind a ClickHouse column type satisfies (None: none of them)."""
    inner = clickhouse_type
    while (found := _WRAPPER.match(inner)) is not None:
        inner = found.group(1)
    if inner == "DateTime" or inner.startswith("DateTime("):
        return Kind.TIME
    if re.match(r"^(U?Int\d+|Float\d+|Decimal)", inner):
        return Kind.NUMBER
    if inner == "String" or inner.startswith("FixedString("):
        return Kind.STRING
    return None


def expanded(sql: str, time: TimeRange, variables: Mapping[str, str | Sequence[str]]) -> str:
    return expand(sql, time, variables)


def columns(client: ClickHouse, sql: str) -> list[tuple[str, str]]:
    """(name, ClickHouse type) of each column the query returns, in order."""
    return [(str(r[0]), str(r[1])) for r in client.execute(f"DESCRIBE TABLE ({sql})")]


def rows(client: ClickHouse, sql: str) -> list[tuple[Any, ...]]:
    return client.execute(sql)
