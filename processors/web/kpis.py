"""KPI documents of the API, assembled from window counts: pure functions, no I/O.

Invariants: every ratio is None when its divisor is zero (never a division error,
never an invented 0); money stays integer micros, ratios are floats; stage roles come
from their position in the funnel (first: click, second: lead, second to last:
qualified, last: won), as the demo board and the bid advisor read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from funnelwatch.schemas import kpis as kpi_defs
from funnelwatch.schemas.funnel import Funnel
from funnelwatch.schemas.kpis import ratio

from ..spend.sql import WindowSpend
from .queries import SegmentCounts

#: the API's windows and their minutes
WINDOWS = {"15m": 15, "1h": 60, "24h": 1440}


def cost_kpis(
    stages: Sequence[str],
    events: dict[str, int],
    spend: int | None,
    revenue: int,
    same_currency: bool = True,
) -> dict[str, float | None]:
    """CPC, CPL, cost per qualified lead, CAC (micros) and ROMI (fraction), as the API
    names them (see funnelwatch.schemas.kpis)."""
    by_name = kpi_defs.cost_kpis(stages, lambda s: events.get(s, 0), spend, revenue, same_currency)
    return {API_NAMES[name]: value for name, value in by_name.items()}


#: the API's key of each KPI: money KPIs say their unit
API_NAMES = {name: f"{name}_micros" for name in kpi_defs.COST_PER} | {kpi_defs.ROMI: kpi_defs.ROMI}
COST_KPIS = tuple(API_NAMES.values())


def spend_document(spend: WindowSpend, revenue_currency: str) -> dict[str, Any]:
    """Where the window's spend comes from and in which currency (see processors/spend)."""
    currency = spend.currency(revenue_currency)
    mixed = currency is None
    return {
        "currency": currency,
        "revenue_currency": revenue_currency,
        "spend_micros": None if mixed else spend.spend_micros,
        "basis": spend.basis,
        "provisional": spend.provisional_micros > 0,
        "reported_micros": spend.reported_micros,
        "provisional_micros": spend.provisional_micros,
        "click_cost_micros": spend.click_cost_micros,
        "reported_through": spend.reported_through,
        "error": (
            f"spend reports in {', '.join(spend.currencies)}: nothing is summed across currencies"
            if mixed
            else None
        ),
    }


def with_spend(
    seg: SegmentCounts,
    click_stage: str,
    spend: WindowSpend,
    revenue_currency: str,
    by_clicks: bool = True,
) -> SegmentCounts:
    """``seg`` with the spend that counts in place of its clicks' own cost; none for a
    segment of a lead-level dimension (``by_clicks`` False: no clicks to share it by)."""
    if spend.currency(revenue_currency) is None or not by_clicks:
        seg.spend_micros = None
    elif seg.dim == "all":
        seg.spend_micros = spend.spend_micros
    else:
        seg.spend_micros = spend.segment_spend(
            seg.events.get(click_stage, 0), seg.spend_micros or 0
        )
    seg.same_currency = spend.currency(revenue_currency) == revenue_currency
    return seg


def segment_document(funnel: Funnel, seg: SegmentCounts) -> dict[str, Any]:
    """One segment's counts, spend, cost KPIs and stage conversions with baselines."""
    names = funnel.all_names
    events = {name: seg.events.get(name, 0) for name in names}
    base = {name: seg.baseline_events.get(name, 0) for name in names}
    conversions = []
    for from_stage, to_stage in funnel.transitions:
        conversions.append(
            {
                "from_stage": from_stage,
                "to_stage": to_stage,
                "from_events": events[from_stage],
                "to_events": events[to_stage],
                "rate": ratio(events[to_stage], events[from_stage]),
                "baseline_from_events": base[from_stage],
                "baseline_to_events": base[to_stage],
                "baseline_rate": ratio(base[to_stage], base[from_stage]),
            }
        )
    return {
        "dim": seg.dim,
        "value": seg.value,
        "counts": events,
        "spend_micros": seg.spend_micros,
        "revenue_micros": seg.revenue_micros,
        "kpis": cost_kpis(
            funnel.stage_names, events, seg.spend_micros, seg.revenue_micros, seg.same_currency
        ),
        "conversions": conversions,
    }
