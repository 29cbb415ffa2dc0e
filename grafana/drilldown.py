"""The *Campaign drill-down* board: one campaign, narrowed by channel, ad group and device.

Variables: ``campaign`` (one), ``channel``, ``ad_group``, ``device`` (several, or All).
The panels filtered by all four read funnel_facts (newest version of each fact), since
kpi_minute holds one dimension per segment; the "by segment" tables read kpi_minute.
Conversion against baseline: the click → lead conversion per interval, the baseline
being the conversion of the 24 hours before the range, and the band baseline ± 3
binomial standard deviations for the clicks of the interval (the normal approximation
of the binomial noise the detectors judge against).
"""

from __future__ import annotations

from funnelwatch.processors.spend.sql import segment_share, window_spend

from .board import Board, Part
from .chquery import NUMBER, STRING, ClickHouseQuery, table, timeseries
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
SEGMENT = (
    f"{CAMPAIGN} AND channel IN (${{channel:sqlstring}}) "
    "AND ad_group_id IN (${ad_group:sqlstring}) AND device IN (${device:sqlstring})"
)


def _segment_values(dim: str) -> Part:
    return query_variable(
        dim,
        dim.replace("_", " "),
        table(
            f"""
SELECT DISTINCT dim_value
FROM kpi_minute
WHERE {CAMPAIGN} AND dim = '{dim}' AND $__timeFilter(minute)
ORDER BY dim_value""",
            ("dim_value", STRING),
        ),
        multi=True,
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
    f"{segment_share('c_spend', 'seg_clicks', 'c_clicks', 'own_cost', 'c_has')} / 1000000"
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


def by_segment(dim: str) -> ClickHouseQuery:
    return table(
        f"""
SELECT {dim}, {", ".join(STAGES)}, {_SEGMENT_SPEND} AS spend, revenue,
       {cost_columns()}
FROM
(
    SELECT dim_value AS {dim}, {count_columns("kpi")},
           sumIf(events, stage = '{CLICK}') AS seg_clicks, sum(cost_micros) AS own_cost,
           sum(revenue_micros) / 1000000 AS revenue
    FROM kpi_minute FINAL
    WHERE {CAMPAIGN} AND dim = '{dim}' AND $__timeFilter(minute)
    GROUP BY dim_value
) AS segments
CROSS JOIN ({_CAMPAIGN_SPENT}) AS spent
ORDER BY spend DESC, {dim}""",
        (dim, STRING),
        *((name, NUMBER) for name in KPI_NAMES),
    )


def board() -> Board:
    panels = [
        stat_panel(
            "KPIs of the selected segment",
            SEGMENT_KPIS,
            w=24,
            description="Counted events per stage, spend, revenue and cost KPIs of the "
            "campaign narrowed by channel, ad group and device.",
        ),
        ts_panel(
            "Click → lead conversion against baseline",
            CONVERSION_VS_BASELINE,
            unit="percentunit",
            description=f"Baseline: the {BASELINE_S // 3600} h before the range; band: "
            f"± {BAND_SIGMAS} binomial standard deviations for the interval's clicks.",
        ),
        ts_panel("Events per stage", EVENTS_PER_STAGE),
        table_panel("KPIs by channel", by_segment("channel"), h=6),
        table_panel("KPIs by ad group", by_segment("ad_group"), h=8),
        table_panel("KPIs by device", by_segment("device"), h=6),
        table_panel("KPIs by geo", by_segment("geo"), h=8),
        table_panel(
            "Alerts of this campaign",
            table(alerts_table(CAMPAIGN), *ALERT_COLUMNS),
            h=6,
        ),
    ]
    return Board(
        uid=UID,
        title="Campaign drill-down",
        description="One campaign by channel, ad group and device: KPIs, conversion "
        "against its baseline and band, alerts.",
        panels=panels,
        variables=[
            CAMPAIGN_VARIABLE,
            *(_segment_values(d) for d in ("channel", "ad_group", "device")),
        ],
    )
