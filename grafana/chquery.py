"""A ClickHouse panel query for the foundation SDK, with the columns its panel expects.

The SDK has no builder for the ``grafana-clickhouse-datasource`` plugin, so this module
supplies one: it emits the plugin's SQL-editor query model (``editorType: sql``,
``rawSql``, ``queryType``/``format``) and keeps, next to it, the contract the tests
check: the column names, in order, and the kind of each (time, number or string).
Invariant: the contract never reaches the JSON; Grafana sees only the plugin's model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.builder import Builder

from .datasources import CLICKHOUSE


class Kind(Enum):
    """What a column must be for its panel to draw it."""

    TIME = "time"  # DateTime
    NUMBER = "number"  # any integer or float type (Nullable allowed)
    STRING = "string"  # String or LowCardinality(String): series labels, table text


TIME, NUMBER, STRING = Kind.TIME, Kind.NUMBER, Kind.STRING

QueryType = Literal["table", "timeseries"]
#: sqlutil's format codes, which the plugin's backend reads
_FORMATS = {"timeseries": 0, "table": 1}


class ClickHouseDataquery(cogvariants.Dataquery):
    """The plugin's query model as the SDK serialises it."""

    def __init__(self, ref_id: str, sql: str, query_type: QueryType) -> None:
        self.ref_id, self.sql, self.query_type = ref_id, sql, query_type

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": CLICKHOUSE.to_json(),
            "editorType": "sql",
            "queryType": self.query_type,
            "format": _FORMATS[self.query_type],
            "rawSql": self.sql,
        }


@dataclass(frozen=True)
class ClickHouseQuery(Builder[cogvariants.Dataquery]):
    """One SQL query of a panel (or of an alert rule, variable or annotation).

    ``columns`` lists what the query returns, in order: (name, kind).
    """

    sql: str
    columns: tuple[tuple[str, Kind], ...]
    query_type: QueryType = "table"
    ref_id: str = "A"

    def build(self) -> ClickHouseDataquery:
        return ClickHouseDataquery(self.ref_id, self.sql.strip(), self.query_type)


def timeseries(sql: str, *columns: tuple[str, Kind], ref_id: str = "A") -> ClickHouseQuery:
    """A time series query: first column ``time``, then labels and values (long format)."""
    return ClickHouseQuery(sql, (("time", TIME), *columns), "timeseries", ref_id)


def table(sql: str, *columns: tuple[str, Kind], ref_id: str = "A") -> ClickHouseQuery:
    return ClickHouseQuery(sql, tuple(columns), "table", ref_id)
