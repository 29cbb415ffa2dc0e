"""Expand a panel query as Grafana and the ClickHouse plugin would, for one concrete range.

Two steps, in Grafana's order:
1. template variables (Grafana's frontend): ``${name:sqlstring}`` becomes the values
   in single quotes with each ``'`` doubled, comma separated; ``${name}``, ``$name`` and
   ``[[name]]`` the raw value (values joined by commas);
2. the plugin's macros (grafana/clickhouse-datasource pkg/macros/macros.go): the time
   range in whole seconds through ``toDateTime(<epoch>)`` (milliseconds through
   ``fromUnixTimestamp64Milli``), ``$__interval_s`` the interval in whole seconds
   (at least 1), ``$__timeInterval(col)`` as ``toStartOfInterval`` (which ClickHouse
   18.16 lacks: the boards avoid it).
Invariant: an unknown ``$__macro`` or an undefined variable raises instead of passing
through, so a query cannot reach ClickHouse half expanded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

_MACRO = re.compile(r"\$__(\w+)(?:\(([^()]*)\))?")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)|\[\[(\w+)\]\]")


class ExpansionError(ValueError):
    """A macro or variable the expansion does not know, or bad macro arguments."""


@dataclass(frozen=True)
class TimeRange:
    """A dashboard time range in epoch milliseconds, and the panel interval."""

    from_ms: int
    to_ms: int
    interval_ms: int = 60_000

    @classmethod
    def of_seconds(cls, start: int, end: int, interval_s: int = 60) -> TimeRange:
        return cls(start * 1000, end * 1000, interval_s * 1000)


def _date(ms: int) -> str:
    return f"toDate('{datetime.fromtimestamp(ms // 1000, UTC):%Y-%m-%d}')"


def _args(name: str, args: str | None, count: int) -> list[str]:
    parts = [a.strip() for a in args.split(",")] if args else []
    if len(parts) != count:
        raise ExpansionError(f"$__{name} expects {count} argument(s), got {len(parts)}")
    return parts


def expand_macros(sql: str, time: TimeRange) -> str:
    f_s, t_s = time.from_ms // 1000, time.to_ms // 1000
    interval_s = max(time.interval_ms // 1000, 1)
    interval_ms = max(time.interval_ms, 1)

    def one(match: re.Match[str]) -> str:
        name, args = match.group(1), match.group(2)
        simple = {
            "fromTime": f"toDateTime({f_s})",
            "toTime": f"toDateTime({t_s})",
            "fromTime_ms": f"fromUnixTimestamp64Milli({time.from_ms})",
            "toTime_ms": f"fromUnixTimestamp64Milli({time.to_ms})",
            "interval_s": str(interval_s),
        }
        if name in simple:
            # the plugin matches `$__name` followed by a word boundary; no arguments
            return simple[name] + (f"({args})" if args is not None else "")
        if name == "timeFilter":
            (c,) = _args(name, args, 1)
            return f"{c} >= toDateTime({f_s}) AND {c} <= toDateTime({t_s})"
        if name == "timeFilter_ms":
            (c,) = _args(name, args, 1)
            return (
                f"{c} >= fromUnixTimestamp64Milli({time.from_ms}) AND "
                f"{c} <= fromUnixTimestamp64Milli({time.to_ms})"
            )
        if name == "dateFilter":
            (c,) = _args(name, args, 1)
            return f"{c} >= {_date(time.from_ms)} AND {c} <= {_date(time.to_ms)}"
        if name in ("dateTimeFilter", "dt"):
            d, t = _args(name, args, 2)
            return (
                f"({d} >= {_date(time.from_ms)} AND {d} <= {_date(time.to_ms)}) AND "
                f"({t} >= toDateTime({f_s}) AND {t} <= toDateTime({t_s}))"
            )
        if name == "timeInterval":
            (c,) = _args(name, args, 1)
            return f"toStartOfInterval(toDateTime({c}), INTERVAL {interval_s} second)"
        if name == "timeInterval_ms":
            (c,) = _args(name, args, 1)
            return f"toStartOfInterval(toDateTime64({c}, 3), INTERVAL {interval_ms} millisecond)"
        raise ExpansionError(f"unknown macro $__{name}")

    return _MACRO.sub(one, sql)


def _sql_string(value: str) -> str:
    # Grafana's sqlstring format: each ' doubled, the value in single quotes
    return "'" + value.replace("'", "''") + "'"


def expand_variables(sql: str, variables: Mapping[str, str | Sequence[str]]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3) or match.group(4)
        fmt = match.group(2)
        if name.startswith("__"):
            return match.group(0)  # a plugin macro, expanded later
        if name not in variables:
            raise ExpansionError(f"undefined template variable ${name}")
        value = variables[name]
        values = [value] if isinstance(value, str) else list(value)
        if fmt == "sqlstring":
            return ",".join(_sql_string(v) for v in values)
        if fmt not in (None, "raw", "csv"):
            raise ExpansionError(f"unsupported variable format :{fmt}")
        return ",".join(values)

    return _VARIABLE.sub(one, sql)


def expand(
    sql: str, time: TimeRange, variables: Mapping[str, str | Sequence[str]] | None = None
) -> str:
    """The SQL the plugin sends to ClickHouse for this range and these variable values."""
    return expand_macros(expand_variables(sql, variables or {}), time)
