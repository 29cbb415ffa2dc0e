"""The oracle of cohorts: what the cohorts API must say, from the valid events alone.

It shares no code with processors/cohorts nor processors/web: the attribution and the
one counted event per lead and stage come from :mod:`tests.support.oracle` (its
``Expected.counted``: the counted events of each minute and stage with their campaign
and segment), the spend from :mod:`tests.support.oracle_spend`; the cohort rules are
applied here as the README states them, in plain Python:

- a lead's time is its counted form's event time, its campaign and segment the form's;
  a cohort is a campaign's (segment value's) leads of one UTC day (or week from Monday,
  1970-01-05 being the first), timed in a minute at or before the watermark;
- a CRM event counts for its lead when it is the lead's counted one of its stage, in a
  minute at or before the watermark and timed at most a day before the lead;
- a stage is reached through it or any deeper stage, an outcome by itself;
- mature: lead time + maturity <= watermark; speed to lead: delay to the contact, its
  median and p90 the sorted delays' elements of rank ceil(p n / 100); uncontacted: old
  enough for its deadline (its form type's minutes, else the default) and no contact
  within it;
- a period's cost: the campaign's spend of the period, a segment's part by its clicks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from funnelwatch.schemas.funnel import Funnel
from funnelwatch.schemas.segments import BUILT_IN_SEGMENTS

from .oracle import Expected
from .oracle_spend import Report, SpendWant, window_spend

DAY = 86400
EARLY_MS = DAY * 1000
#: the position of each dimension's value in a counted lead's (campaign, *values)
DIM_INDEX: dict[str, int | None] = {
    "all": None, **{name: i + 1 for i, name in enumerate(BUILT_IN_SEGMENTS.names)}
}  # fmt: skip


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@dataclass
class Lead:
    lead_id: str
    ms: int
    #: campaign and the lead's value of each dimension of the built-in segment set
    segment: tuple[str, ...]
    #: stage -> (event time ms, deal value) of its counted CRM event
    crm: dict[str, tuple[int, int]] = field(default_factory=dict)


def leads_of(events: Iterable[Mapping[str, Any]], want: Expected, funnel: Funnel) -> list[Lead]:
    """Every lead with a counted form, with its counted CRM events."""
    by_id = {e["event_id"]: e for e in events}
    lead_stage = funnel.stage_names[1]
    leads: dict[str, Lead] = {}
    for (_, stage), counted in want.counted.items():
        if stage != lead_stage:
            continue
        for event_id, segment in counted.items():
            form = by_id[event_id]
            assert len(segment) == len(DIM_INDEX), segment
            leads[form["lead_id"]] = Lead(form["lead_id"], _ms(form["event_time"]), segment)
    later = {*funnel.stage_names[2:], *(o.name for o in funnel.outcomes)}
    for (_, stage), counted in want.counted.items():
        if stage not in later:
            continue
        for event_id in counted:
            e = by_id[event_id]
            lead = leads.get(e["lead_id"])
            if lead is not None:
                lead.crm[stage] = (_ms(e["event_time"]), e.get("deal_value_micros") or 0)
    return list(leads.values())


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def nearest_rank(values: list[int], percent: int) -> int | None:
    """The element of rank ceil(percent n / 100) (1-based) of the sorted values."""
    if not values:
        return None
    rank = math.ceil(Fraction(percent * len(values), 100))
    return sorted(values)[rank - 1]


def _spend_document(
    want: SpendWant, currencies: list[str], revenue_currency: str
) -> dict[str, Any]:
    mixed = len(currencies) > 1
    if not want.has_reports:
        basis = "clicks"
    elif want.provisional > 0:
        basis = "reported+provisional" if want.reported > 0 else "provisional"
    else:
        basis = "reported"
    return {
        "currency": None if mixed else (currencies[0] if currencies else revenue_currency),
        "revenue_currency": revenue_currency,
        "spend_micros": None if mixed else want.spend,
        "basis": basis,
        "provisional": want.provisional > 0,
        "reported_micros": want.reported,
        "provisional_micros": want.provisional,
        "click_cost_micros": want.click_cost,
        "reported_through": want.through,
        "error": (
            f"spend reports in {', '.join(currencies)}: nothing is summed across currencies"
            if mixed
            else None
        ),
    }


@dataclass(frozen=True)
class CohortAsk:
    campaign: str
    dim: str
    first_day: int
    days: int
    now: int  # the watermark, epoch seconds
    within_minutes: int
    #: stage or outcome -> seconds
    maturity: Mapping[str, int]
    #: form type -> minutes (the form_type dimension's value), when no within= was asked
    within_by_form_type: Mapping[str, int] = field(default_factory=dict)
    #: 86400 or 604800
    period: int = DAY

    def start_of(self, epoch_s: int) -> int:
        if self.period == DAY:
            return epoch_s // DAY * DAY
        monday = 4 * DAY  # 1970-01-05
        return monday + (epoch_s - monday) // self.period * self.period

    def deadline_ms(self, lead: Lead) -> int:
        form_type = lead.segment[DIM_INDEX["form_type"] or 0]
        return self.within_by_form_type.get(form_type, self.within_minutes) * 60_000


def cohorts(
    ask: CohortAsk,
    leads: list[Lead],
    reports: list[Report],
    want: Expected,
    funnel: Funnel,
    revenue_currency: str = "USD",
) -> list[dict[str, Any]]:
    """The ``cohorts`` list of the API's document for ``ask``."""
    stages = funnel.stage_names
    click, lead_stage, contact, won = stages[0], stages[1], stages[2], stages[-1]
    deep = stages[2:]
    outcomes = tuple(o.name for o in funnel.outcomes)
    now_ms = ask.now * 1000
    index = DIM_INDEX[ask.dim]
    end = ask.first_day + ask.days * ask.period

    def value_of(segment: tuple[str, ...]) -> str:
        return "all" if index is None else segment[index]

    mine: dict[tuple[int, str], list[Lead]] = {}
    for lead in leads:
        minute = lead.ms // 60_000 * 60
        if lead.segment[0] != ask.campaign or not ask.first_day <= minute < end:
            continue
        if minute > ask.now:
            continue
        mine.setdefault((ask.start_of(lead.ms // 1000), value_of(lead.segment)), []).append(lead)

    clicks_all = {
        (m, c): (n, cost)
        for (m, c, dim, _, stage), (n, cost, _) in want.kpi.items()
        if dim == "all" and stage == click
    }
    seg_clicks: dict[tuple[int, str], list[int]] = {}
    if index is not None:
        for (m, c, dim, value, stage), (n, own, _) in want.kpi.items():
            if c == ask.campaign and dim == ask.dim and stage == click and ask.first_day <= m < end:
                row = seg_clicks.setdefault((ask.start_of(m), value), [0, 0])
                row[0] += n
                row[1] += own
    currencies = sorted({r.currency for r in reports if r.campaign == ask.campaign})

    out = []
    for day in range(ask.first_day, end, ask.period):
        spend = window_spend(reports, clicks_all, ask.campaign, day, day + ask.period)
        if index is None:
            values = ["all"]
        else:
            values = sorted(
                {v for d, v in mine if d == day}
                | {v for (d, v), (n, _) in seg_clicks.items() if d == day and n > 0}
            )
        for value in values:
            group = mine.get((day, value), [])
            valid = [
                {
                    s: t
                    for s, t in lead.crm.items()
                    if t[0] // 60_000 * 60 <= ask.now and t[0] >= lead.ms - EARLY_MS
                }
                for lead in group
            ]
            counts = {lead_stage: len(group)}
            for i, s in enumerate(deep):
                counts[s] = sum(1 for v in valid if any(d in v for d in deep[i:]))
            for s in outcomes:
                counts[s] = sum(1 for v in valid if s in v)
            revenue = sum(v[won][1] for v in valid if won in v)
            delays = [
                v[contact][0] - lead.ms
                for lead, v in zip(group, valid, strict=True)
                if contact in v
            ]
            judged = [
                (lead, v)
                for lead, v in zip(group, valid, strict=True)
                if lead.ms + ask.deadline_ms(lead) <= now_ms
            ]
            late = sum(
                1
                for lead, v in judged
                if not (contact in v and v[contact][0] - lead.ms <= ask.deadline_ms(lead))
            )
            deadlines = {ask.deadline_ms(lead) for lead in group}
            if not ask.within_by_form_type:
                within: int | None = ask.within_minutes
            elif ask.dim == "form_type":
                within = ask.within_by_form_type.get(value, ask.within_minutes)
            else:
                within = None
            assert within is None or deadlines <= {within * 60_000}
            if len(currencies) > 1 or not BUILT_IN_SEGMENTS.by_clicks(ask.dim):
                # a lead-level dimension has no clicks to share the spend by
                cost: int | None = None
            elif index is None:
                cost = spend.spend
            else:
                n, own = seg_clicks.get((day, value), [0, 0])
                if not spend.has_reports:
                    cost = own
                else:
                    cost = spend.spend * n // spend.clicks if spend.clicks else 0
            same = (currencies[0] if currencies else revenue_currency) == revenue_currency
            if cost is None:
                kpis: dict[str, float | None] = dict.fromkeys(
                    ("cpl_micros", "cost_per_qualified_micros", "cac_micros", "romi")
                )
            else:
                kpis = {
                    "cpl_micros": _ratio(cost, counts[lead_stage]),
                    "cost_per_qualified_micros": _ratio(cost, counts[stages[-2]]),
                    "cac_micros": _ratio(cost, counts[won]),
                    "romi": _ratio(revenue - cost, cost) if same else None,
                }
            median, p90 = nearest_rank(delays, 50), nearest_rank(delays, 90)
            out.append(
                {
                    "cohort_start": day,
                    "cohort_end": day + ask.period,
                    "open": day + ask.period > ask.now,
                    "dim": ask.dim,
                    "value": value,
                    "counts": counts,
                    "conversions": [
                        {
                            "from_stage": a,
                            "to_stage": b,
                            "from_leads": counts[a],
                            "to_leads": counts[b],
                            "rate": _ratio(counts[b], counts[a]),
                        }
                        for a, b in itertools.pairwise(stages[1:])
                    ],
                    "maturity": {
                        s: (
                            _ratio(
                                sum(
                                    1
                                    for lead in group
                                    if lead.ms + ask.maturity[s] * 1000 <= now_ms
                                ),
                                len(group),
                            )
                        )
                        for s in (*deep, *outcomes)
                    },
                    "revenue_micros": revenue,
                    "spend": _spend_document(spend, currencies, revenue_currency),
                    "spend_micros": cost,
                    "kpis": kpis,
                    "speed_to_lead": {
                        "median_minutes": None if median is None else median / 60_000,
                        "p90_minutes": None if p90 is None else p90 / 60_000,
                        "contacted": len(delays),
                        "within_minutes": within,
                        "judged_leads": len(judged),
                        "uncontacted_after_within": late,
                        "uncontacted_after_within_share": _ratio(late, len(judged)),
                    },
                }
            )
    return out
