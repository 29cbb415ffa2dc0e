"""The *Campaign drill-down* board: one campaign, narrowed to values of one dimension.

Variables: ``campaign`` (one), ``dimension`` (one of the configured segment dimensions,
or ``all``: the campaign as a whole) and ``value`` (one or several of its values), all
read from the data, so the board follows the configured segment set with no rebuild.
The panels narrowed by dimension and value read funnel_facts (newest version of each
fact: a fact's own value, before any top-N cut, so ``(other)`` is not offered as a
value); the "by dimension" table reads kpi_minute, where values past a dimension's top
N count as ``(other)``. A segment's spend is its part of the campaign's by clicks; a
dimension no click is counted under in the range (a lead-level one: form type, landing
page) has no spend (NULL). Conversion against baseline: the click → lead conversion per
interval, the baseline being the conversion of the 24 hours before the range, and the
band baseline ± 3 binomial standard deviations for the clicks of the interval (the
normal approximation of the binomial noise the detectors judge against). The cohort
table is :mod:`.cohorts`'s: the cohorts API's figures of the campaign.
"""

from __future__ import annotations

from funnelwatch.processors.attribution.facts import segment_value_sql
from funnelwatch.processors.attribution.rules import UNKNOWN
from funnelwatch.processors.spend.sql import segment_share, window_spend
from funnelwatch.schemas.segments import ALL, OTHER

from .board import Board
from .chquery import NUMBER, STRING, table, timeseries
from .cohorts import COHORTS, DAYS
from .overview import ALERT_COLUMNS, alerts_table
from .panels import query_variable, stat_panel, table_panel, ts_panel
from .sql import (
    BUCKET,
    CLICK,
    KPI_NAMES,
    LEAD,
    STAGES,
    cost_columns,
    count_columns,
    facts,
    ratio,
)

UID = "funnelwatch-campaign-drilldown"
BASELINE_S = 86400
BAND_SIGMAS = 3
CAMPAIGN = "campaign_id = ${campaign:sqlstring}"
DIMENSION = "${dimension:sqlstring}"
SEGMENT = (
    f"{CAMPAIGN} AND ({DIMENSION} = '{ALL}' OR "
    f"{segment_value_sql(DIMENSION, repr(UNKNOWN))} IN (${{value:sqlstring}}))"
)
#: 1 when clicks are counted under the dimension in the range (it shares the spend)
_BY_CLICKS = f"""(
    SELECT count() > 0 FROM kpi_minute
    WHERE {CAMPAIGN} AND dim = {DIMENSION} AND stage = '{CLICK}' AND $__timeFilter(minute))"""

DIMENSION_VARIABLE = query_variable(
    "dimension",
    "dimension",
    table(
        f"""
SELECT DISTINCT dim
FROM kpi_minute
WHERE {CAMPAIGN} AND $__timeFilter(minute)
ORDER BY dim != '{ALL}', dim""",
        ("dim", STRING),
    ),
    multi=False,
    sort=False,
)
VALUE_VARIABLE = query_variable(
    "value",
    "value",
    table(
        f"""
SELECT DISTINCT dim_value
FROM kpi_minute
WHERE {CAMPAIGN} AND dim = {DIMENSION} AND dim_value != '{OTHER}' AND $__timeFilter(minute)
ORDER BY dim_value""",
        ("dim_value", STRING),
    ),
    multi=True,
    include_all=False,
)

CAMPAIGN_VARIABLE = query_variable(
    "campaign",
    "campaign",
    table(
        """
SELECT DISTINCT campaign_id
FROM kpi_minute
WHERE dim = 'all' AND $__timeFilter(minute)
ORDER BY campaign_id""",
        ("campaign_id", STRING),
    ),
    multi=False,
)

#: the campaign's spend that counts in the range, one row (micros)
_CAMPAIGN_SPENT = f"""
    SELECT spend AS c_spend, clicks AS c_clicks, has_reports AS c_has
    FROM ({window_spend(CAMPAIGN, "toUInt32($__fromTime)", "toUInt32($__toTime)", f"'{CLICK}'")})"""
#: a segment's part of it, by its clicks (currency units)
_SEGMENT_SPEND = (
    f"if({_BY_CLICKS}, "
    f"{segment_share('c_spend', 'seg_clicks', 'c_clicks', 'own_cost', 'c_has')} / 1000000, NULL)"
)

SEGMENT_KPIS = table(
    f"""
SELECT {", ".join(STAGES)}, {_SEGMENT_SPEND} AS spend, revenue,
       {cost_columns()}
FROM
(
    SELECT {count_columns("facts")}, countIf(stage = '{CLICK}') AS seg_clicks,
           sum(cost_micros) AS own_cost, sum(revenue_micros) / 1000000 AS revenue
    FROM ({facts("$__timeFilter(minute)")})
    WHERE counted = 1 AND {SEGMENT}
) AS selected
CROSS JOIN ({_CAMPAIGN_SPENT}) AS spent""",
    *((name, NUMBER) for name in KPI_NAMES),
)

EVENTS_PER_STAGE = timeseries(
    f"""
SELECT {BUCKET} AS time, stage, count() AS events
FROM ({facts("$__timeFilter(minute)")})
WHERE counted = 1 AND {SEGMENT}
GROUP BY time, stage
ORDER BY time, stage""",
    ("stage", STRING),
    ("events", NUMBER),
)

_CLICK_LEAD = f"""
    SELECT {BUCKET} AS time,
           countIf(stage = '{CLICK}') AS clicks, countIf(stage = '{LEAD}') AS leads
    FROM ({facts("$__timeFilter(minute)")})
    WHERE counted = 1 AND {SEGMENT}
    GROUP BY time"""
_BASELINE = f"""(
    SELECT {ratio(f"countIf(stage = '{LEAD}')", f"countIf(stage = '{CLICK}')")}
    FROM ({facts(f"minute >= $__fromTime - {BASELINE_S} AND minute < $__fromTime")})
    WHERE counted = 1 AND {SEGMENT})"""
_SIGMA = "sqrt(baseline * (1 - baseline) / clicks)"

CONVERSION_VS_BASELINE = timeseries(
    f"""
SELECT time,
       {ratio("leads", "clicks")} AS conversion,
       {_BASELINE} AS baseline,
       if(clicks > 0, if(baseline > {BAND_SIGMAS} * {_SIGMA},
                         baseline - {BAND_SIGMAS} * {_SIGMA}, 0), NULL) AS band_low,
       if(clicks > 0, if(baseline + {BAND_SIGMAS} * {_SIGMA} < 1,
                         baseline + {BAND_SIGMAS} * {_SIGMA}, 1), NULL) AS band_high
FROM ({_CLICK_LEAD})
ORDER BY time""",
    ("conversion", NUMBER),
    ("baseline", NUMBER),
    ("band_low", NUMBER),
    ("band_high", NUMBER),
)


BY_DIMENSION = table(
    f"""
SELECT value, {", ".join(STAGES)}, {_SEGMENT_SPEND} AS spend, revenue,
       {cost_columns()}
FROM
(
    SELECT dim_value AS value, {count_columns("kpi")},
           sumIf(events, stage = '{CLICK}') AS seg_clicks, sum(cost_micros) AS own_cost,
           sum(revenue_micros) / 1000000 AS revenue
    FROM kpi_minute FINAL
    WHERE {CAMPAIGN} AND dim = {DIMENSION} AND $__timeFilter(minute)
    GROUP BY dim_value
) AS segments
CROSS JOIN ({_CAMPAIGN_SPENT}) AS spent
ORDER BY {STAGES[0]} DESC, {STAGES[1]} DESC, value""",
    ("value", STRING),
    *((name, NUMBER) for name in KPI_NAMES),
)


def board() -> Board:
    panels = [
        stat_panel(
            "KPIs of the selected segment",
            SEGMENT_KPIS,
            w=24,
            description="Counted events per stage, spend, revenue and cost KPIs of the "
            "campaign narrowed to the chosen values of the chosen dimension.",
        ),
        ts_panel(
            "Click → lead conversion against baseline",
            CONVERSION_VS_BASELINE,
            unit="percentunit",
            description=f"Baseline: the {BASELINE_S // 3600} h before the range; band: "
            f"± {BAND_SIGMAS} binomial standard deviations for the interval's clicks.",
        ),
        ts_panel("Events per stage", EVENTS_PER_STAGE),
        table_panel(
            "KPIs by $dimension",
            BY_DIMENSION,
            h=10,
            description="Every value of the chosen dimension in the range; values past "
            "its top N per minute count as (other). Spend: the segment's part of the "
            "campaign's by clicks (none for a lead-level dimension).",
        ),
        table_panel(
            "Cohorts: leads by the UTC day first seen (not the event-time window)",
            COHORTS,
            h=9,
            description=f"The campaign's leads of each of the last {DAYS} UTC days up to "
            "the watermark (not the board's range), and what they reached since: counts, "
            "conversions (never above 100%), won maturity, revenue, the day's spend that "
            "counts, cost KPIs, ROMI, speed to lead. The API's cohort definitions; "
            "deadlines and maturities are the settings' defaults when the board was built.",
        ),
        table_panel(
            "Alerts of this campaign",
            table(alerts_table(CAMPAIGN), *ALERT_COLUMNS),
            h=6,
        ),
    ]
    return Board(
        uid=UID,
        title="Campaign drill-down",
        description="One campaign narrowed to values of one segment dimension: KPIs, "
        "conversion against its baseline and band, alerts.",
        panels=panels,
        variables=[
            CAMPAIGN_VARIABLE,
            DIMENSION_VARIABLE,
            VALUE_VARIABLE,
        ],
    )
