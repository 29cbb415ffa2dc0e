"""``GET /api/campaigns/{campaign_id}/cohorts``: the cohort view of a campaign.

Leads are counted by the UTC day (or week) they were first seen and followed since (see
:mod:`funnelwatch.processors.cohorts` for every definition), unlike the event-time
``kpis`` endpoint, which counts the events of a window. Invariants: the route answers
only a read token and maps errors as every ``/api`` view does (it is registered with
``api_page`` and ``guarded`` of :func:`.api.register_web`); a cohort's conversions are
ratios of nested sets of its own leads, so none exceeds 1; its cost is the spend SQL's
figure of its period (:mod:`funnelwatch.processors.spend.sql`), the document's ``spend`` the
kpis endpoint's object (:func:`.kpis.spend_document`), its cost KPIs
:func:`.kpis.cost_kpis`; every ratio is None where its divisor is 0.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response, View

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.schemas.funnel import Funnel

from ..cohorts import PERIODS, ContactDeadline, Period
from ..cohorts.sql import (
    PERCENTILES,
    CohortRange,
    CohortRow,
    days_of,
    maturity_seconds,
    read_cohorts,
    segment_clicks,
)
from ..spend.sql import WindowSpend
from . import queries
from .kpis import cost_kpis, spend_document, with_spend

if TYPE_CHECKING:
    from funnelwatch.processors.app import Pipeline

#: a request reads one spend statement per period (about 0.1 s on a server, 0.3 s on
#: chDB): how many periods it may ask for, and how many it gets by default
MAX_COUNT = {"day": 31, "week": 26}
DEFAULT_COUNT = {"day": 7, "week": 4}
#: a request's speed-to-lead threshold (``within``), minutes
MAX_WITHIN_MINUTES = 7 * 1440

DESCRIPTION = (
    "Cohort view: the campaign's leads counted by the UTC day (or week, from Monday) they "
    "were first seen (their counted form), and what those leads did since, up to the "
    "watermark: the stages they reached, their revenue, the campaign's spend of that "
    "period and their speed to lead. "
    "Unlike the event-time kpis endpoint, which counts the events of a window, a cohort's "
    "conversions never exceed 1; the deeper stages of a young cohort are still filling "
    "(see maturity: the share of its leads old enough for each stage)."
)

ApiPage = Callable[[str], Callable[..., Any]]
Guarded = Callable[[View, Callable[[], Awaitable[Response]]], Awaitable[Response]]


def cohort_range(
    campaign_id: str,
    dim: str,
    count: int,
    deadline: ContactDeadline,
    watermark: int,
    maturity: Mapping[str, int],
    by_clicks: bool = True,
    period: Period = PERIODS["day"],
) -> CohortRange:
    """The ``count`` periods ending with the watermark's own (none starting before the
    epoch's first)."""
    last = period.start_of(watermark)
    first = max(last - (count - 1) * period.seconds, period.offset)
    return CohortRange(
        campaign_id,
        dim,
        first,
        max((last - first) // period.seconds + 1, 1),
        watermark,
        deadline,
        maturity,
        by_clicks,
        period,
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def cohort_document(
    funnel: Funnel,
    cohorts: CohortRange,
    day: int,
    value: str,
    row: CohortRow | None,
    spend: WindowSpend,
    clicks: tuple[int, int],
    revenue_currency: str,
) -> dict[str, Any]:
    """One cohort (period and segment value): counts of its leads per stage reached,
    conversions, maturity, revenue, spend and cost KPIs, speed to lead."""
    lead = funnel.stage_names[1]
    later = (*funnel.stage_names[2:], *(o.name for o in funnel.outcomes))
    leads = row.leads if row else 0
    counts = {lead: leads, **{s: row.reached[s] if row else 0 for s in later}}
    seg = queries.SegmentCounts(cohorts.dim, value, {funnel.stage_names[0]: clicks[0]}, clicks[1])
    seg = with_spend(seg, funnel.stage_names[0], spend, revenue_currency, cohorts.by_clicks)
    revenue = row.revenue_micros if row else 0
    kpis = cost_kpis(funnel.stage_names, counts, seg.spend_micros, revenue, seg.same_currency)
    kpis.pop("cpc_micros")  # a cohort is of leads: its clicks are not its own
    contacted = row.contacted if row else 0
    delays = row.delay_ms if row else dict.fromkeys(PERCENTILES)
    judged = row.judged if row else 0
    late = row.uncontacted if row else 0
    end = day + cohorts.period.seconds
    return {
        "cohort_start": day,
        "cohort_end": end,
        # leads still arrive while the period is not over
        "open": end > cohorts.now,
        "dim": cohorts.dim,
        "value": value,
        "counts": counts,
        "conversions": [
            {
                "from_stage": a,
                "to_stage": b,
                "from_leads": counts[a],
                "to_leads": counts[b],
                "rate": _share(counts[b], counts[a]),
            }
            for a, b in funnel.transitions[1:]
        ],
        "maturity": {s: _share(row.mature[s], leads) if row else None for s in later},
        "revenue_micros": revenue,
        "spend": spend_document(spend, revenue_currency),
        "spend_micros": seg.spend_micros,
        "kpis": kpis,
        "speed_to_lead": {
            "median_minutes": _minutes(delays.get(50)),
            "p90_minutes": _minutes(delays.get(90)),
            "contacted": contacted,
            "judged_leads": judged,
            "within_minutes": within_of(cohorts, value),
            "uncontacted_after_within": late,
            "uncontacted_after_within_share": _share(late, judged),
        },
    }


def within_of(cohorts: CohortRange, value: str) -> int | None:
    """The one deadline of a cohort's leads, minutes; None when its leads' form types
    have different ones."""
    deadline = cohorts.deadline
    if deadline.uniform:
        return deadline.default_minutes
    if cohorts.dim == deadline.form_type_dim:
        return deadline.minutes_for(value)
    return None


def _minutes(ms: int | None) -> float | None:
    return None if ms is None else ms / 60_000


def cohort_documents(
    funnel: Funnel,
    cohorts: CohortRange,
    rows: Sequence[CohortRow],
    spends: Mapping[int, WindowSpend],
    clicks: Mapping[tuple[int, str], tuple[int, int]],
    revenue_currency: str,
) -> list[dict[str, Any]]:
    """Every cohort of the range, by period then segment value: for the whole campaign
    each period (with or without leads), per segment the values with leads or clicks in
    it."""
    by_key = {(r.cohort_start, r.value): r for r in rows}
    out = []
    for day in days_of(cohorts):
        if cohorts.dim == "all":
            values = ["all"]
        else:
            values = sorted(
                {v for d, v in by_key if d == day} | {v for (d, v), c in clicks.items()
                                                       if d == day and c[0] > 0}
            )  # fmt: skip
        for value in values:
            out.append(
                cohort_document(
                    funnel,
                    cohorts,
                    day,
                    value,
                    by_key.get((day, value)),
                    spends[day],
                    clicks.get((day, value), (0, 0)),
                    revenue_currency,
                )
            )
    return out


def read_all(
    client: ClickHouse, funnel: Funnel, cohorts: CohortRange
) -> tuple[list[CohortRow], dict[int, WindowSpend], dict[tuple[int, str], tuple[int, int]]]:
    """The cohort rows, each period's spend and (per segment) each period's clicks."""
    click = funnel.stage_names[0]
    rows = read_cohorts(client, funnel, cohorts)
    # a period is the window of the minutes m with start <= m < start + its seconds
    p = cohorts.period
    spends = {
        start: queries.window_spend(
            client, cohorts.campaign_id, start + p.seconds - 60, p.minutes, click
        )
        for start in days_of(cohorts)
    }
    split = cohorts.dim != "all" and cohorts.by_clicks
    clicks = segment_clicks(client, funnel, cohorts) if split else {}
    return rows, spends, clicks


def register_cohorts(pipeline: Pipeline, api_page: ApiPage, guarded: Guarded) -> None:
    """Attach ``GET /api/campaigns/{campaign_id}/cohorts`` to the pipeline's app through
    the API's own ``api_page`` (the read-token guard) and ``guarded`` (400 for a bad
    parameter, 503 while ClickHouse is away), the closures of :func:`.api.register_web`."""
    # api.py imports this module, so its parameter parsing is imported once both exist
    from .api import BadRequest, _choice, _int

    funnel, settings, reader = pipeline.funnel, pipeline.settings, pipeline.reader
    segments = pipeline.segments
    maturity = maturity_seconds(funnel, settings.cohort_maturity_hours)
    deadline = pipeline.contact_deadline

    @api_page("/api/campaigns/{campaign_id}/cohorts")
    async def cohorts_view(web: View, request: Request, campaign_id: str) -> Response:
        async def work() -> Response:
            period = PERIODS[_choice(request, "period", tuple(PERIODS), "day")]
            count_name = f"{period.name}s"
            for other in PERIODS:
                if other != period.name and f"{other}s" in request.query:
                    raise BadRequest(f"{other}s is for period={other}; use {count_name}")
            count = _int(
                request,
                count_name,
                1,
                MAX_COUNT[period.name],
                DEFAULT_COUNT[period.name],
            )
            by = _choice(request, "by", segments.dims, "all")
            asked = deadline
            if "within" in request.query:
                within = _int(request, "within", 1, MAX_WITHIN_MINUTES, 0)
                asked = deadline.only(within)

            def q(client: ClickHouse) -> Any:
                if not queries.campaign_exists(client, campaign_id):
                    return None
                end = queries.watermark(client)
                cohorts = cohort_range(
                    campaign_id,
                    by,
                    count,
                    asked,
                    end,
                    maturity,
                    segments.by_clicks(by),
                    period,
                )
                return cohorts, (read_all(client, funnel, cohorts) if end else None)

            found = await reader.run(q)
            if found is None:
                return web.error(404, f"unknown campaign {campaign_id!r}")
            cohorts, data = found
            documents = []
            if data is not None:
                rows, spends, clicks = data
                documents = cohort_documents(
                    funnel, cohorts, rows, spends, clicks, settings.currency
                )
            return web.json(
                {
                    "view": "cohort",
                    "description": DESCRIPTION,
                    "campaign_id": campaign_id,
                    "period": period.name,
                    count_name: count,
                    "by": by,
                    "within_minutes": asked.default_minutes,
                    "uncontacted_after": asked.document(),
                    "watermark": cohorts.now,
                    "maturity_hours": {s: m / 3600 for s, m in maturity.items()},
                    "cohorts": documents,
                }
            )

        return await guarded(web, work)
