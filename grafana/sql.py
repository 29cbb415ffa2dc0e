"""SQL fragments shared by the boards and alert rules.

Invariants (hard rules of the project):
- the same SQL runs on ClickHouse 18.16 and on current ClickHouse/chDB: no
  toStartOfInterval, no window functions; time buckets are integer arithmetic on
  ``toUInt32(minute)`` with the plugin's ``$__interval_s``;
- ReplacingMergeTree tables are read with FINAL where every filter is on sorting-key
  columns (so FINAL and WHERE commute), else with argMax(..., version) per row identity;
- stage names come from the default funnel definition at build time;
- ratios are NULL (a gap on the board) when their divisor is zero.
"""

from __future__ import annotations

from funnelwatch.processors.spend.sql import window_spend
from funnelwatch.schemas import kpis as kpi_defs
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.schemas.kpis import cost_kpi_columns, sql_ratio

STAGES: tuple[str, ...] = tuple(load_funnel().stage_names)
CLICK, LEAD, QUALIFIED, WON = STAGES[0], STAGES[1], STAGES[-2], STAGES[-1]
WHOLE_CAMPAIGN = "dim = 'all' AND dim_value = 'all'"
#: the time bucket of a panel: the plugin's interval in whole seconds (min interval 1m)
BUCKET = "toDateTime(intDiv(toUInt32(minute), $__interval_s) * $__interval_s)"


#: ratios of the boards: the one definition of funnelwatch.schemas.kpis
ratio = sql_ratio


def stage_count(stage: str, source: str) -> str:
    """Events of one stage: ``kpi`` sums kpi_minute.events, ``facts`` counts fact rows."""
    return f"sumIf(events, stage = '{stage}')" if source == "kpi" else f"countIf(stage = '{stage}')"


def count_columns(source: str) -> str:
    """Funnel counts of the rows aggregated, one column per stage."""
    return ",\n       ".join(f"{stage_count(s, source)} AS {s}" for s in STAGES)


def cost_columns() -> str:
    """The cost KPIs of columns ``spend`` and ``revenue`` and the stage counts."""
    return ",\n       ".join(cost_kpi_columns(STAGES, lambda stage: stage, "spend", "revenue"))


#: the spend that counts of each campaign in the panel's range (currency units), from the
#: one definition (funnelwatch.processors.spend.sql): campaign_id, spend_units, currencies
SPENT = f"""
    SELECT campaign_id, spend / 1000000 AS spend_units, currencies
    FROM ({
    window_spend(
        "campaign_id != ''", "toUInt32($__fromTime)", "toUInt32($__toTime)", f"'{STAGES[0]}'"
    )
})"""


KPI_NAMES: tuple[str, ...] = (*STAGES, "spend", "revenue", *kpi_defs.NAMES)


def facts(time_condition: str) -> str:
    """Facts as their newest version says (one row per event), counted ones only.

    A fact's minute and stage never change between versions (they are the event's own),
    so filtering on them before the argMax is safe; campaign and segment may change
    (re-attribution), so they are filtered after it.
    """
    return f"""
    SELECT minute, stage,
           argMax(campaign_id, version) AS campaign_id,
           argMax(dim_names, version) AS dim_names, argMax(dim_values, version) AS dim_values,
           argMax(counted, version) AS counted, argMax(cost_micros, version) AS cost_micros,
           argMax(revenue_micros, version) AS revenue_micros
    FROM funnel_facts
    WHERE {time_condition}
    GROUP BY minute, stage, event_id"""


#: alerts as their newest version says, one row per alert
ALERTS_NOW = """
    SELECT alert_id, argMax(kind, version) AS kind, argMax(status, version) AS status,
           campaign_id, argMax(metric, version) AS metric,
           argMax(from_stage, version) AS from_stage, argMax(to_stage, version) AS to_stage,
           argMax(segments, version) AS segments, argMax(started_at, version) AS started_at,
           argMax(fired_at, version) AS fired_at, argMax(resolved_at, version) AS resolved_at,
           argMax(baseline, version) AS baseline, argMax(current, version) AS current,
           argMax(leads_lost, version) AS leads_lost, argMax(summary, version) AS summary
    FROM alerts
    GROUP BY campaign_id, alert_id"""
