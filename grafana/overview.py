"""The *Campaign overview* board: every campaign at a glance, what needs attention first.

Reads kpi_minute (whole-campaign segment) and the alerts table; alerts are drawn as
annotations. Money is in currency units (micros / 1e6).
"""

from __future__ import annotations

from itertools import pairwise

from grafana_foundation_sdk.builders import dashboard as db

from funnelwatch.processors.spend.sql import window_spend

from .board import Board, Part
from .chquery import NUMBER, STRING, TIME, ClickHouseQuery, table, timeseries
from .datasources import CLICKHOUSE
from .panels import stat_panel, table_panel, ts_panel
from .sql import (
    ALERTS_NOW,
    BUCKET,
    CLICK,
    KPI_NAMES,
    LEAD,
    SPENT,
    STAGES,
    WHOLE_CAMPAIGN,
    cost_columns,
    count_columns,
    ratio,
)

UID = "funnelwatch-campaign-overview"
#: the "now" window of the attention table, compared with the rest of the range
NOW_WINDOW_S = 3600

# Money of all campaigns is summed only when they share one currency (else no spend).
TOTALS = table(
    f"""
SELECT {", ".join(STAGES)}, spend, revenue,
       {cost_columns()}
FROM
(
    SELECT {count_columns("kpi")}, sum(revenue_micros) / 1000000 AS revenue
    FROM kpi_minute FINAL
    WHERE {WHOLE_CAMPAIGN} AND $__timeFilter(minute)
) AS totals
CROSS JOIN
(
    SELECT if(length(groupUniqArrayArray(currencies)) > 1, NULL, sum(spend_units)) AS spend
    FROM ({SPENT})
) AS spent""",
    *((name, NUMBER) for name in KPI_NAMES),
)

ATTENTION = table(
    f"""
SELECT campaign_id AS campaign, open_alerts,
       {ratio("leads_now", "clicks_now")} AS conversion_now,
       {ratio("leads_before", "clicks_before")} AS conversion_before,
       if(conversion_before > 0, conversion_now / conversion_before - 1, NULL) AS change,
       {", ".join(KPI_NAMES)}
FROM (
    SELECT campaign_id, clicks_now, leads_now, clicks_before, leads_before,
           {", ".join(STAGES)}, spend_units AS spend, revenue,
           {cost_columns()}
    FROM (
        SELECT campaign_id,
               sumIf(events, stage = '{CLICK}' AND minute > $__toTime - {NOW_WINDOW_S})
                   AS clicks_now,
               sumIf(events, stage = '{LEAD}' AND minute > $__toTime - {NOW_WINDOW_S})
                   AS leads_now,
               sumIf(events, stage = '{CLICK}' AND minute <= $__toTime - {NOW_WINDOW_S})
                   AS clicks_before,
               sumIf(events, stage = '{LEAD}' AND minute <= $__toTime - {NOW_WINDOW_S})
                   AS leads_before,
               {count_columns("kpi")}, sum(revenue_micros) / 1000000 AS revenue
        FROM kpi_minute FINAL
        WHERE {WHOLE_CAMPAIGN} AND $__timeFilter(minute)
        GROUP BY campaign_id
    ) AS counted
    ANY LEFT JOIN ({SPENT}) AS spent USING campaign_id
) AS kpis
ANY LEFT JOIN (
    SELECT campaign_id, count() AS open_alerts
    FROM ({ALERTS_NOW})
    WHERE status = 'firing'
    GROUP BY campaign_id
) AS open USING campaign_id
ORDER BY open_alerts DESC, isNull(change), change, spend DESC""",
    ("campaign", STRING),
    ("open_alerts", NUMBER),
    ("conversion_now", NUMBER),
    ("conversion_before", NUMBER),
    ("change", NUMBER),
    *((name, NUMBER) for name in KPI_NAMES),
)

EVENTS_PER_STAGE = timeseries(
    f"""
SELECT {BUCKET} AS time, stage, sum(events) AS events_
FROM kpi_minute FINAL
WHERE {WHOLE_CAMPAIGN} AND $__timeFilter(minute)
GROUP BY time, stage
ORDER BY time, stage""",
    ("stage", STRING),
    ("events_", NUMBER),
)

STAGE_CONVERSIONS = timeseries(
    f"""
SELECT time,
       {", ".join(f"{ratio(f'n_{b}', f'n_{a}')} AS `{a} → {b}`" for a, b in pairwise(STAGES))}
FROM (
    SELECT {BUCKET} AS time,
           {", ".join(f"sumIf(events, stage = '{s}') AS n_{s}" for s in STAGES)}
    FROM kpi_minute FINAL
    WHERE {WHOLE_CAMPAIGN} AND $__timeFilter(minute)
    GROUP BY time
)
ORDER BY time""",
    *((f"{a} → {b}", NUMBER) for a, b in pairwise(STAGES)),
)

CONVERSION_PER_CAMPAIGN = timeseries(
    f"""
SELECT {BUCKET} AS time, campaign_id AS campaign,
       {ratio(f"sumIf(events, stage = '{LEAD}')", f"sumIf(events, stage = '{CLICK}')")}
           AS conversion
FROM kpi_minute FINAL
WHERE {WHOLE_CAMPAIGN} AND $__timeFilter(minute)
GROUP BY time, campaign
ORDER BY time, campaign""",
    ("campaign", STRING),
    ("conversion", NUMBER),
)

SPEND_PER_CAMPAIGN = timeseries(
    f"""
SELECT {BUCKET} AS time, campaign_id AS campaign, sum(cost_micros) / 1000000 AS spend
FROM kpi_minute FINAL
WHERE {WHOLE_CAMPAIGN} AND $__timeFilter(minute)
GROUP BY time, campaign
ORDER BY time, campaign""",
    ("campaign", STRING),
    ("spend", NUMBER),
)

#: which cost counts over the range, per campaign (the one definition: processors/spend)
SPEND_BY_SOURCE = table(
    f"""
SELECT campaign_id AS campaign, arrayStringConcat(currencies, ',') AS currency,
       spend / 1000000 AS spend_total, reported / 1000000 AS spend_reported,
       provisional / 1000000 AS spend_provisional, click_cost / 1000000 AS click_cost_total,
       basis AS spend_basis, if(has_reports = 1, toDateTime(through), NULL) AS reported_through
FROM ({
        window_spend(
            "campaign_id != ''", "toUInt32($__fromTime)", "toUInt32($__toTime)", f"'{CLICK}'"
        )
    })
ORDER BY spend_total DESC, campaign""",
    ("campaign", STRING),
    ("currency", STRING),
    ("spend_total", NUMBER),
    ("spend_reported", NUMBER),
    ("spend_provisional", NUMBER),
    ("click_cost_total", NUMBER),
    ("spend_basis", STRING),
    ("reported_through", TIME),
)

CPL_PER_CAMPAIGN = timeseries(
    f"""
SELECT {BUCKET} AS time, campaign_id AS campaign,
       {ratio("sum(cost_micros) / 1000000", f"sumIf(events, stage = '{LEAD}')")} AS cpl
FROM kpi_minute FINAL
WHERE {WHOLE_CAMPAIGN} AND $__timeFilter(minute)
GROUP BY time, campaign
ORDER BY time, campaign""",
    ("campaign", STRING),
    ("cpl", NUMBER),
)

ALERT_COLUMNS = (
    ("fired_at", TIME),
    ("status", STRING),
    ("kind", STRING),
    ("campaign", STRING),
    ("transition", STRING),
    ("baseline", NUMBER),
    ("current", NUMBER),
    ("leads_lost", NUMBER),
    ("summary", STRING),
)


def alerts_table(campaign_filter: str = "1") -> str:
    """Open alerts and those fired in the range, open ones first."""
    return f"""
SELECT fired_at, status, kind, campaign_id AS campaign,
       concat(from_stage, ' → ', to_stage) AS transition, baseline, current, leads_lost, summary
FROM ({ALERTS_NOW})
WHERE (status = 'firing' OR $__timeFilter(fired_at)) AND {campaign_filter}
ORDER BY status = 'firing' DESC, fired_at DESC
LIMIT 200"""


ALERTS = table(alerts_table(), *ALERT_COLUMNS)

#: alert annotations: the plugin reads time, timeEnd, text and tags
ANNOTATION = table(
    f"""
SELECT started_at AS time,
       if(status = 'resolved', resolved_at, $__toTime) AS timeEnd,
       summary AS text,
       concat(kind, ',', campaign_id, ',', status) AS tags
FROM ({ALERTS_NOW})
WHERE started_at <= $__toTime AND (status = 'firing' OR resolved_at >= $__fromTime)""",
    ("time", TIME),
    ("timeEnd", TIME),
    ("text", STRING),
    ("tags", STRING),
)


def alert_annotation(query: ClickHouseQuery) -> Part:
    # The SDK types an annotation's target as the built-in Grafana one; a data source
    # annotation carries that data source's own query model instead.
    return Part(
        db.AnnotationQuery()
        .name("funnelwatch alerts")
        .datasource(CLICKHOUSE)
        .enable(True)
        .icon_color("red")
        .target(query),  # type: ignore[arg-type]
        (query,),
    )


def board() -> Board:
    money = "currencyUSD"
    panels = [
        stat_panel(
            "Funnel, money and cost KPIs (all campaigns)",
            TOTALS,
            w=24,
            description="Counted events per stage, spend, revenue, CPC, CPL, cost per "
            "qualified lead, CAC and ROMI over the selected range.",
        ),
        table_panel(
            "Campaigns — needs attention first",
            ATTENTION,
            h=10,
            description=f"Open alerts first, then the largest click→lead conversion fall of "
            f"the last {NOW_WINDOW_S // 60} minutes against the rest of the range.",
        ),
        ts_panel("Events per stage", EVENTS_PER_STAGE),
        ts_panel(
            "Stage conversions over time (all campaigns)",
            STAGE_CONVERSIONS,
            unit="percentunit",
            description="Events of a stage divided by events of the stage before, per "
            "interval. Deeper stages lag by hours to days: read them on the drill-down.",
        ),
        ts_panel(
            "Click → lead conversion per campaign", CONVERSION_PER_CAMPAIGN, unit="percentunit"
        ),
        ts_panel(
            "Clicks' own cost per campaign",
            SPEND_PER_CAMPAIGN,
            unit=money,
            description="The cost_micros the clicks carried, per interval (not the "
            "reported spend: see the table above).",
        ),
        table_panel(
            "Spend per campaign: reported vs provisional",
            SPEND_BY_SOURCE,
            h=8,
            description="Which cost counts over the range: the ad platforms' reports "
            "(newest restatement), then clicks after the last reported period priced at the "
            "recent reported CPC (provisional, until the reports catch up); campaigns "
            "without reports: their clicks' own cost. In each campaign's currency.",
        ),
        ts_panel("Cost per lead per campaign", CPL_PER_CAMPAIGN, unit=money, w=24),
        table_panel("Alerts", ALERTS, h=8),
    ]
    return Board(
        uid=UID,
        title="Campaign overview",
        description="Per campaign: the funnel, stage conversions, spend and cost KPIs; "
        "detector alerts as annotations.",
        panels=panels,
        annotations=[alert_annotation(ANNOTATION)],
    )
