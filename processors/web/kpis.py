"""KPI documents of the API, assembled from window counts: pure functions, no I/O.

Invariants: every ratio is None when its divisor is zero (never a division error,
never an invented 0); money stays integer micros, ratios are floats; stage roles come
from their position in the funnel (first: click, second: lead, second to last:
qualified, last: won), as the demo board and the bid advisor read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from funnelwatch.demo.queries import ratio
from funnelwatch.schemas.funnel import Funnel

from .queries import SegmentCounts

#: the API's windows and their minutes
WINDOWS = {"15m": 15, "1h": 60, "24h": 1440}
#: the segment dimensions of kpi_minute (see processors.rollup.DIMENSIONS)
SEGMENT_DIMS = ("all", "channel", "ad_group", "device", "geo")


def cost_kpis(
    stages: Sequence[str], events: dict[str, int], spend: int, revenue: int
) -> dict[str, float | None]:
    """CPC, CPL, cost per qualified lead, CAC (micros) and ROMI (fraction)."""
    return {
        "cpc_micros": ratio(spend, events.get(stages[0], 0)),
        "cpl_micros": ratio(spend, events.get(stages[1], 0)),
        "cost_per_qualified_micros": ratio(spend, events.get(stages[-2], 0)),
        "cac_micros": ratio(spend, events.get(stages[-1], 0)),
        "romi": ratio(revenue - spend, spend),
    }


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
        "kpis": cost_kpis(funnel.stage_names, events, seg.spend_micros, seg.revenue_micros),
        "conversions": conversions,
    }
