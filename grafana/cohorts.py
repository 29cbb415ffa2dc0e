"""The drill-down's cohort table: the API's cohort view of the campaign, in Grafana.

One row per UTC day of the last :data:`DAYS` days ending with the watermark's day (not
the board's time range: like the API, a cohort is followed up to the watermark), the
campaign as a whole. Every figure comes from the definitions the API uses: the cohort
statement of :mod:`funnelwatch.processors.cohorts.sql` (its parameters given as SQL
expressions), the day's spend that counts of :mod:`funnelwatch.processors.spend.sql`
(one window per day, as the API reads one per day) and the cost KPIs of
:mod:`funnelwatch.schemas.kpis`. The speed-to-lead deadlines and maturities are the
settings' defaults, read when the board is built.
"""

from __future__ import annotations

from funnelwatch.clickhouse.embedded import sql_literals
from funnelwatch.processors.cohorts import (
    DAY,
    DAY_SECONDS,
    EARLY_CRM_SECONDS,
    ContactDeadline,
    contact_deadline,
)
from funnelwatch.processors.cohorts.sql import (
    CohortRange,
    cohort_params,
    cohort_sql_of,
    maturity_seconds,
)
from funnelwatch.processors.spend.sql import window_spend
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.schemas.kpis import cost_kpi_columns, sql_ratio
from funnelwatch.schemas.segments import BUILT_IN_SEGMENTS
from funnelwatch.settings import Settings

from .chquery import NUMBER, STRING, table

#: cohort days shown, ending with the watermark's (each costs one spend window)
DAYS = 7
CAMPAIGN = "campaign_id = ${campaign:sqlstring}"
_WATERMARK = (
    "toInt64((SELECT argMax(watermark, version) FROM sink_progress WHERE name = 'rolling'))"
)
_FIRST = (
    f"greatest(intDiv({_WATERMARK}, {DAY_SECONDS}) * {DAY_SECONDS} - {(DAYS - 1) * DAY_SECONDS}, 0)"
)

_FUNNEL = load_funnel()
_STAGES = _FUNNEL.stage_names
_LATER = (*_STAGES[2:], *(o.name for o in _FUNNEL.outcomes))
_DEFAULTS = Settings.model_fields


def built_in_judging() -> tuple[ContactDeadline, dict[str, int]]:
    """The speed-to-lead deadline and the maturities of the settings' defaults and the
    built-in segments: what the table judges by."""
    deadline = contact_deadline(
        _DEFAULTS["uncontacted_after_minutes"].default,
        _DEFAULTS["uncontacted_after_minutes_by_form_type"].default,
        BUILT_IN_SEGMENTS.lead_dimension_of("form_type"),
        explicit=False,
    )
    return deadline, maturity_seconds(_FUNNEL, _DEFAULTS["cohort_maturity_hours"].default)


def _expressions() -> dict[str, str]:
    """The cohort statement's parameters: build-time literals of the settings' defaults,
    the campaign variable and the watermark's days."""
    deadline, maturity = built_in_judging()
    whole = CohortRange("", "all", 0, DAYS, 0, deadline, maturity, True, DAY)
    out = sql_literals(cohort_params(_FUNNEL, whole))
    out.update(
        campaign="${campaign:sqlstring}",
        lo=_FIRST,
        hi=f"({_FIRST} + {DAYS * DAY_SECONDS})",
        now=_WATERMARK,
        now_ms=f"({_WATERMARK} * 1000)",
        crm_lo=f"greatest({_FIRST} - {EARLY_CRM_SECONDS}, 0)",
    )
    return out


def _day_spend(k: int) -> str:
    start = f"({_FIRST} + {k * DAY_SECONDS})"
    end = f"({start} + {DAY_SECONDS})"
    return f"""
        SELECT toInt64({start}) AS cohort, spend AS s_spend, currencies AS s_currencies
        FROM ({window_spend(CAMPAIGN, start, end, f"'{_STAGES[0]}'")})"""


def _count(stage: str) -> str:
    """A cohort's leads that reached ``stage`` (its clicks are not its own: none)."""
    if stage == _STAGES[0]:
        return "0"
    return "leads" if stage == _STAGES[1] else f"r{_LATER.index(stage)}"


_WON_MATURITY = f"m{_LATER.index(_STAGES[-1])}"
#: ROMI only where the spend is in the revenue's currency (no conversion)
_SAME_CURRENCY = f"(empty(s_currencies) OR s_currencies = ['{_DEFAULTS['currency'].default}'])"
_KPIS = [
    item.replace(" AS romi", "")
    for item in cost_kpi_columns(_STAGES, _count, "spend", "revenue")
    if not item.endswith(" AS cpc")
]
_KPIS[-1] = f"if({_SAME_CURRENCY}, {_KPIS[-1]}, NULL) AS romi"

COLUMNS = (
    ("day", STRING),
    (_STAGES[1], NUMBER),
    *((s, NUMBER) for s in _LATER),
    *((f"{a}_to_{b}", NUMBER) for a, b in _FUNNEL.transitions[1:]),
    (f"{_STAGES[-1]}_maturity", NUMBER),
    ("revenue", NUMBER),
    ("spend", NUMBER),
    ("cpl", NUMBER),
    ("cost_per_qualified", NUMBER),
    ("cac", NUMBER),
    ("romi", NUMBER),
    ("to_contact_median_min", NUMBER),
    ("to_contact_p90_min", NUMBER),
    ("uncontacted_share", NUMBER),
)


def _sql() -> str:
    counts = [f"leads AS {_STAGES[1]}", *(f"{_count(s)} AS {s}" for s in _LATER)]
    conversions = [
        f"{sql_ratio(_count(b), _count(a))} AS {a}_to_{b}" for a, b in _FUNNEL.transitions[1:]
    ]
    spends = "\n        UNION ALL".join(_day_spend(k) for k in range(DAYS))
    found = ", ".join(
        ["leads", *(f"r{i}" for i in range(len(_LATER))), _WON_MATURITY, "contacted", "q50",
         "q90", "judged", "uncontacted"]
    )  # fmt: skip
    return f"""
SELECT formatDateTime(toDateTime(cohort), '%Y-%m-%d') AS day, {", ".join(counts)},
       {", ".join(conversions)},
       {sql_ratio(_WON_MATURITY, "leads")} AS {_STAGES[-1]}_maturity,
       revenue, spend,
       {", ".join(_KPIS)},
       if(contacted > 0, q50 / 60000, NULL) AS to_contact_median_min,
       if(contacted > 0, q90 / 60000, NULL) AS to_contact_p90_min,
       {sql_ratio("uncontacted", "judged")} AS uncontacted_share
FROM
(
    SELECT cohort, {found}, revenue_micros / 1000000 AS revenue,
           -- a day without clicks or reports has no spend row: 0, as the API says
           ifNull(s_spend, 0) / 1000000 AS spend, s_currencies
    FROM
    (
        SELECT cohort, {found}, revenue_micros
        FROM (SELECT toInt64({_FIRST} + number * {DAY_SECONDS}) AS cohort
              FROM system.numbers LIMIT {DAYS}) AS days
        ANY LEFT JOIN
        (
            SELECT toInt64(cohort) AS cohort, {found}, revenue AS revenue_micros
            FROM ({cohort_sql_of(_FUNNEL, _expressions())})
        ) AS found USING cohort
    ) AS cohorts
    ANY LEFT JOIN ({spends}) AS spent USING cohort
)
ORDER BY cohort DESC"""


COHORTS = table(_sql(), *COLUMNS)
