"""The cohort SQL: per cohort period and segment value, the leads, the stages they reached,
how many are mature for each stage, their revenue and their speed to lead.

One statement per request (see the package docstring for the definitions). Its layers:

1. the counted lead facts of the campaign at their newest version, timed in the range;
2. the counted CRM facts at their newest version, from ``EARLY_CRM_SECONDS`` before the
   range to the watermark, joined to their leads by ``lead_id`` (ALL LEFT JOIN: a lead
   without CRM facts keeps one row of defaults, whose empty stage matches nothing);
3. per lead: its facts per stage (counted, not too early), its first contact's time, its
   revenue and its contact deadline (its form type's, ``transform`` over the configured
   map);
4. per cohort and segment value: counts, maturity counts, the sorted contact delays and
   their nearest-rank order statistics.

Invariants: filters before an ``argMax`` are on the sorting key only (minute, stage), the
campaign and segment are filtered after it (re-attribution changes them between
versions); values are ``%(name)s`` parameters (the dimension too: a lead's value is
read from its fact's ``dim_names``/``dim_values``); no CTE, window function or lambda:
ClickHouse 18.16 runs it as chDB does; every number that leaves is an exact integer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.schemas.funnel import Funnel

from ..attribution.facts import segment_value_sql
from ..attribution.rules import UNKNOWN
from . import DAY, EARLY_CRM_SECONDS, ContactDeadline, Period

#: a lead's value of the requested dimension (the campaign as a whole: 'all'; a
#: dimension its fact was not written under: '(unknown)')
_SEGMENT_VALUE = f"if(%(dim)s = %(all)s, %(all)s, {segment_value_sql('%(dim)s', '%(unknown)s')})"
#: the percentiles of speed to lead, as integer percents
PERCENTILES = (50, 90)
#: a stage name no fact has: what an absent role (no CRM stage) matches
NO_STAGE = "(no stage)"
#: a dimension and form type no fact has: a deadline map that matches nothing
NO_FORM_TYPE = "(no form type)"
#: a lead's form type: its value of the deadline's dimension
_FORM_TYPE = segment_value_sql("%(type_dim)s", "%(unknown)s")


def nearest_rank(n: str, percent: int) -> str:
    """SQL of the 1-based nearest rank ``ceil(percent * n / 100)``, at least 1 (an empty
    array then gives its default, which the caller ignores)."""
    return f"greatest(intDiv({n} * {int(percent)} + 99, 100), 1)"


def maturity_seconds(funnel: Funnel, hours: Mapping[str, float]) -> dict[str, int]:
    """Seconds after its lead time at which a lead is mature for each stage after the
    lead and each outcome; a stage ``hours`` does not name takes the longest it names
    (0 when it names none)."""
    longest = max(hours.values(), default=0.0)
    later = (*funnel.stage_names[2:], *(o.name for o in funnel.outcomes))
    return {stage: round(hours.get(stage, longest) * 3600) for stage in later}


@dataclass(frozen=True)
class CohortRange:
    """What one request reads: ``days`` cohorts (periods) from ``first_day`` (the start of
    the first period) of one campaign, per segment value of ``dim``, judged at ``now``
    (the watermark, epoch seconds)."""

    campaign_id: str
    dim: str
    first_day: int
    days: int
    now: int
    deadline: ContactDeadline
    #: stage -> seconds (see :func:`maturity_seconds`)
    maturity: Mapping[str, int]
    #: clicks are counted under ``dim`` (its segments have a part of the spend), not a
    #: lead-level dimension
    by_clicks: bool = True
    period: Period = DAY

    @property
    def end(self) -> int:
        """End (exclusive) of the last cohort."""
        return self.first_day + self.days * self.period.seconds


@dataclass(frozen=True)
class CohortRow:
    """One cohort and segment value, as the SQL counts it."""

    cohort_start: int
    value: str
    leads: int
    #: stage or outcome -> leads that reached it
    reached: dict[str, int]
    #: stage or outcome -> leads old enough for it
    mature: dict[str, int]
    revenue_micros: int
    #: leads with a counted contact (first CRM stage) fact
    contacted: int
    #: nearest-rank percentiles of the contact delays (ms) by percent; None: no contact
    delay_ms: dict[int, int | None]
    #: leads old enough to judge ``within``, and those of them not contacted within it
    judged: int
    uncontacted: int


def _later(funnel: Funnel) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return funnel.stage_names[2:], tuple(o.name for o in funnel.outcomes)


def cohort_sql(funnel: Funnel) -> str:
    """The statement for a funnel (see the module docstring)."""
    stages, outcomes = _later(funnel)
    names = (*stages, *outcomes)
    segment = _SEGMENT_VALUE
    ok = "b_ms >= l_ms - %(early_ms)s"
    per_lead = [f"countIf(b_stage = %(st{i})s AND {ok}) AS n{i}" for i in range(len(names))]
    reach = [
        # a stage is reached through it or any deeper stage; an outcome by itself
        f"sum(({' + '.join(f'n{j}' for j in range(i, len(stages)))}) > 0) AS r{i}"
        if i < len(stages)
        else f"sum(n{i} > 0) AS r{i}"
        for i in range(len(names))
    ]
    mature = [f"countIf(c_ms + %(mat{i})s <= %(now_ms)s) AS m{i}" for i in range(len(names))]
    ranks = [f"arrayElement(delays, {nearest_rank('contacted', p)}) AS q{p}" for p in PERCENTILES]
    within = "c_ms + c_within <= %(now_ms)s"
    outer = [
        "cohort",
        "c_seg",
        "count() AS leads",
        *reach,
        *mature,
        "sum(c_revenue) AS revenue",
        "countIf(c_contacts > 0) AS contacted",
        "arraySort(groupArrayIf(c_first - c_ms, c_contacts > 0)) AS delays",
        *ranks,
        f"countIf({within}) AS judged",
        f"countIf({within} AND NOT (c_contacts > 0 AND c_first - c_ms <= c_within)) AS uncontacted",
    ]
    return f"""
SELECT {", ".join(outer)}
FROM
(
    SELECT intDiv(l_ms - %(offset_ms)s, %(period_ms)s) * %(period)s + %(offset)s AS cohort,
           lead_id, l_ms AS c_ms, l_seg AS c_seg,
           transform(l_type, %(types)s, CAST(%(type_ms)s AS Array(Int64)),
                     toInt64(%(within_ms)s)) AS c_within,
           {"".join(f"{item}, " for item in per_lead)}
           countIf(b_stage = %(contact)s AND {ok}) AS c_contacts,
           minIf(b_ms, b_stage = %(contact)s AND {ok}) AS c_first,
           sumIf(b_revenue, b_stage = %(won)s AND {ok}) AS c_revenue
    FROM
    (
        SELECT a_lead AS lead_id, a_ms AS l_ms, a_seg AS l_seg, a_type AS l_type
        FROM
        (
            SELECT argMax(lead_id, version) AS a_lead,
                   argMax(campaign_id, version) AS a_campaign,
                   argMax(counted, version) AS a_counted,
                   toInt64(argMax(event_time_ms, version)) AS a_ms,
                   argMax({segment}, version) AS a_seg,
                   argMax({_FORM_TYPE}, version) AS a_type
            FROM funnel_facts
            WHERE stage = %(lead)s AND minute >= toDateTime(%(lo)s)
              AND minute < toDateTime(%(hi)s) AND minute <= toDateTime(%(now)s)
            GROUP BY minute, stage, event_id
        )
        WHERE a_counted = 1 AND a_campaign = %(campaign)s AND a_lead != ''
    ) AS leads_of_range
    ALL LEFT JOIN
    (
        SELECT b_lead AS lead_id, b_stage, b_ms, b_revenue
        FROM
        (
            SELECT stage AS b_stage, argMax(lead_id, version) AS b_lead,
                   argMax(counted, version) AS b_counted,
                   toInt64(argMax(event_time_ms, version)) AS b_ms,
                   toInt64(argMax(revenue_micros, version)) AS b_revenue
            FROM funnel_facts
            WHERE stage IN %(crm)s AND minute >= toDateTime(%(crm_lo)s)
              AND minute <= toDateTime(%(now)s)
            GROUP BY minute, stage, event_id
        )
        WHERE b_counted = 1 AND b_lead != ''
    ) AS crm_facts USING (lead_id)
    GROUP BY lead_id, l_ms, l_seg, l_type
)
GROUP BY cohort, c_seg
ORDER BY cohort, c_seg"""


def cohort_params(funnel: Funnel, cohorts: CohortRange) -> dict[str, Any]:
    stages, outcomes = _later(funnel)
    names = (*stages, *outcomes)
    now_ms = cohorts.now * 1000
    params: dict[str, Any] = {
        "all": "all",
        "dim": cohorts.dim,
        "unknown": UNKNOWN,
        "lead": funnel.stage_names[1],
        "campaign": cohorts.campaign_id,
        "lo": cohorts.first_day,
        "hi": cohorts.end,
        "now": cohorts.now,
        "now_ms": now_ms,
        "crm_lo": max(cohorts.first_day - EARLY_CRM_SECONDS, 0),
        "early_ms": EARLY_CRM_SECONDS * 1000,
        "crm": tuple(names) or (NO_STAGE,),
        "contact": stages[0] if stages else NO_STAGE,
        "won": stages[-1] if stages else NO_STAGE,
        **deadline_params(cohorts.deadline),
        "period": cohorts.period.seconds,
        "period_ms": cohorts.period.seconds * 1000,
        "offset": cohorts.period.offset,
        "offset_ms": cohorts.period.offset * 1000,
    }
    for i, name in enumerate(names):
        params[f"st{i}"] = name
        params[f"mat{i}"] = cohorts.maturity.get(name, 0) * 1000
    return params


def deadline_params(deadline: ContactDeadline) -> dict[str, Any]:
    """The deadline as the SQL's parameters: the default and the per-form-type map (never
    empty: ``transform`` needs an array of a type)."""
    types = sorted(deadline.by_form_type) if not deadline.uniform else []
    return {
        "type_dim": deadline.form_type_dim or NO_FORM_TYPE,
        "types": types or [NO_FORM_TYPE],
        "type_ms": [deadline.by_form_type[t] * 60_000 for t in types] or [0],
        "within_ms": deadline.default_minutes * 60_000,
    }


def cohort_sql_of(funnel: Funnel, expressions: Mapping[str, str]) -> str:
    """The statement with each parameter given as an SQL expression (literals from
    ``sql_literals(cohort_params(...))``, or a board's variables and macros): the one
    SQL of the API, for a Grafana panel."""
    return cohort_sql(funnel) % expressions


def read_cohorts(client: ClickHouse, funnel: Funnel, cohorts: CohortRange) -> list[CohortRow]:
    """Every (cohort period, segment value) of the range with at least one lead, by day
    then value."""
    stages, outcomes = _later(funnel)
    names = (*stages, *outcomes)
    k = len(names)
    rows = client.execute(cohort_sql(funnel), cohort_params(funnel, cohorts))
    out = []
    for row in rows:
        cohort, value, leads = int(row[0]), str(row[1]), int(row[2])
        reached = [int(x) for x in row[3 : 3 + k]]
        mature = [int(x) for x in row[3 + k : 3 + 2 * k]]
        rest = row[3 + 2 * k :]
        revenue, contacted = int(rest[0]), int(rest[1])
        ranks = [int(x) for x in rest[3 : 3 + len(PERCENTILES)]]
        judged, uncontacted = int(rest[3 + len(PERCENTILES)]), int(rest[4 + len(PERCENTILES)])
        out.append(
            CohortRow(
                cohort,
                value,
                leads,
                dict(zip(names, reached, strict=True)),
                dict(zip(names, mature, strict=True)),
                revenue,
                contacted,
                {p: r if contacted else None for p, r in zip(PERCENTILES, ranks, strict=True)},
                judged,
                uncontacted,
            )
        )
    return out


_SEGMENT_CLICKS = """
SELECT intDiv(m - %(offset)s, %(period)s) * %(period)s + %(offset)s AS cohort, dim_value,
       toInt64(sum(n)), toInt64(sum(c))
FROM
(
    SELECT toUInt32(minute) AS m, dim_value,
           argMax(events, version) AS n, argMax(cost_micros, version) AS c
    FROM kpi_minute
    WHERE campaign_id = %(campaign)s AND dim = %(dim)s AND stage = %(click)s
      AND minute >= toDateTime(%(lo)s) AND minute < toDateTime(%(hi)s)
    GROUP BY minute, dim_value
)
GROUP BY cohort, dim_value
ORDER BY cohort, dim_value"""


def segment_clicks(
    client: ClickHouse, funnel: Funnel, cohorts: CohortRange
) -> dict[tuple[int, str], tuple[int, int]]:
    """(cohort period, segment value) -> (clicks, the clicks' own cost) of the range, from
    ``kpi_minute`` at its newest versions (what a segment's part of the spend is by)."""
    rows = client.execute(
        _SEGMENT_CLICKS,
        {
            "campaign": cohorts.campaign_id,
            "dim": cohorts.dim,
            "click": funnel.stage_names[0],
            "lo": cohorts.first_day,
            "hi": cohorts.end,
            "period": cohorts.period.seconds,
            "offset": cohorts.period.offset,
        },
    )
    return {(int(d), str(v)): (int(n), int(c)) for d, v, n, c in rows}


def days_of(cohorts: CohortRange) -> Sequence[int]:
    """The start of each cohort period of the range, in order."""
    return [cohorts.first_day + i * cohorts.period.seconds for i in range(cohorts.days)]
