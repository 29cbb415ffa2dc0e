"""The macro expander produces what the ClickHouse plugin's macros.go produces."""

from __future__ import annotations

import pytest

from funnelwatch.grafana.macros import ExpansionError, TimeRange, expand

RANGE = TimeRange(from_ms=1_793_527_200_500, to_ms=1_793_541_600_900, interval_ms=300_000)


@pytest.mark.parametrize(
    ("sql", "want"),
    [
        ("$__timeFilter(minute)",
         "minute >= toDateTime(1793527200) AND minute <= toDateTime(1793541600)"),
        ("$__timeFilter_ms(t)",
         "t >= fromUnixTimestamp64Milli(1793527200500) AND "
         "t <= fromUnixTimestamp64Milli(1793541600900)"),
        ("$__fromTime - 60 < $__toTime", "toDateTime(1793527200) - 60 < toDateTime(1793541600)"),
        ("$__dateFilter(d)", "d >= toDate('2026-11-01') AND d <= toDate('2026-11-01')"),
        ("$__dt(d, t)",
         "(d >= toDate('2026-11-01') AND d <= toDate('2026-11-01')) AND "
         "(t >= toDateTime(1793527200) AND t <= toDateTime(1793541600))"),
        ("intDiv(x, $__interval_s)", "intDiv(x, 300)"),
        ("$__timeInterval(minute)", "toStartOfInterval(toDateTime(minute), INTERVAL 300 second)"),
    ],
)  # fmt: skip
def test_macro_expands_as_the_plugin_does(sql: str, want: str) -> None:
    assert expand(sql, RANGE) == want


def test_interval_below_a_second_counts_as_one_second() -> None:
    assert expand("$__interval_s", TimeRange(0, 1000, interval_ms=20)) == "1"


def test_sqlstring_variables_are_quoted_escaped_and_joined_as_grafana_does() -> None:
    sql = "c = ${campaign:sqlstring} AND d IN (${device:sqlstring}) AND $raw AND [[raw]]"
    got = expand(sql, RANGE, {"campaign": "it's", "device": ["mobile", "tablet"], "raw": "1"})
    assert got == "c = 'it''s' AND d IN ('mobile','tablet') AND 1 AND 1"


def test_unknown_macro_and_undefined_variable_raise() -> None:
    with pytest.raises(ExpansionError, match="unknown macro"):
        expand("$__nope(x)", RANGE)
    with pytest.raises(ExpansionError, match=r"undefined template variable \$campaign"):
        expand("${campaign:sqlstring}", RANGE)
    with pytest.raises(ExpansionError, match="expects 1 argument"):
        expand("$__timeFilter(a, b)", RANGE)
