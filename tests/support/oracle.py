"""The offline oracle: KPIs computed from the simulator's ground-truth file alone.

It shares no code with the pipeline's attribution or rollup; it reads the funnel
definition (configuration) and applies the rules of the design brief directly:
valid events deduplicated by event_id (first seen wins), leads attributed by
click_id, then utm_campaign, then "(unattributed)"; CRM events through the lead's
earliest form; one counted event per (lead, stage), the earliest.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from funnelwatch.schemas.funnel import Funnel
from funnelwatch.schemas.segments import BUILT_IN_SEGMENTS, OTHER, SegmentSet

UNATTRIBUTED, UNKNOWN = "(unattributed)", "(unknown)"
KpiKey = tuple[int, str, str, str, str]  # minute, campaign, dim, dim_value, stage
RollKey = tuple[int, str, str, str, int, str, str]  # minute, campaign, dim, value, window, from, to
#: (campaign, ((dimension, value), ...)) of a counted event
Seg = tuple[str, tuple[tuple[str, str], ...]]


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def valid_events(ground_truth: Path) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    with ground_truth.open() as fh:
        for line in fh:
            rec = json.loads(line)
            if not rec["valid"]:
                continue
            event = json.loads(rec["value"])
            if event["event_id"] in seen:
                continue
            seen.add(event["event_id"])
            out.append(event)
    return out


@dataclass
class Expected:
    kpi: dict[KpiKey, tuple[int, int, int]]  # events, cost_micros, revenue_micros
    rolling: dict[RollKey, tuple[int, int]]  # from_events, to_events
    #: (minute, stage) -> {event_id: (campaign, value, value, ...)} of the counted
    #: events, values in the segment set's order (for failure reports and cohorts)
    counted: dict[tuple[int, str], dict[str, tuple[str, ...]]]


def _value(event: dict[str, Any], attribute: str | None) -> str:
    return (event.get(attribute) if attribute else None) or UNKNOWN


def expected(
    events: Iterable[dict[str, Any]],
    funnel: Funnel,
    windows: Iterable[int],
    segments: SegmentSet = BUILT_IN_SEGMENTS,
) -> Expected:
    """What the pipeline must hold after draining ``events`` under this configuration."""
    events = list(events)
    clicks = {e["click_id"]: e for e in events if e["event_type"] == "ad_click"}
    stage_of_status = {st: s.name for s in funnel.stages + funnel.outcomes for st in s.statuses}
    lead_stage = funnel.stages[1].name
    dims = segments.dimensions

    def click_seg(c: dict[str, Any]) -> Seg:
        return c["campaign_id"], tuple((d.name, _value(c, d.click)) for d in dims if d.click)

    def form_attr(f: dict[str, Any]) -> Seg:
        click = clicks.get(f.get("click_id") or "")
        values = tuple(
            (d.name, _value(click, d.click) if click is not None and d.click else _value(f, d.form))
            for d in dims
        )
        if click is not None:
            return click["campaign_id"], values
        return f.get("utm_campaign") or UNATTRIBUTED, values

    counted: list[tuple[int, str, Seg, int, int, str]] = []
    all_minutes: list[int] = []
    for c in clicks.values():
        m = _ms(c["event_time"]) // 60000 * 60
        counted.append((m, "click", click_seg(c), c["cost_micros"], 0, c["event_id"]))
        all_minutes.append(m)

    first_form: dict[str, dict[str, Any]] = {}
    for f in (e for e in events if e["event_type"] == "form_submission"):
        all_minutes.append(_ms(f["event_time"]) // 60000 * 60)
        best = first_form.get(f["lead_id"])
        if best is None or (_ms(f["event_time"]), f["event_id"]) < (
            _ms(best["event_time"]),
            best["event_id"],
        ):
            first_form[f["lead_id"]] = f
    lead_attr = {lead: form_attr(f) for lead, f in first_form.items()}
    for f in first_form.values():
        minute = _ms(f["event_time"]) // 60000 * 60
        counted.append((minute, lead_stage, lead_attr[f["lead_id"]], 0, 0, f["event_id"]))

    first_crm: dict[tuple[str, str], dict[str, Any]] = {}
    for e in (e for e in events if e["event_type"] == "crm_event"):
        stage = stage_of_status.get(e["status"])
        if stage is None:
            continue
        all_minutes.append(_ms(e["event_time"]) // 60000 * 60)
        best = first_crm.get((e["lead_id"], stage))
        if best is None or (_ms(e["event_time"]), e["event_id"]) < (
            _ms(best["event_time"]),
            best["event_id"],
        ):
            first_crm[(e["lead_id"], stage)] = e
    no_lead: Seg = (UNATTRIBUTED, tuple((d.name, UNKNOWN) for d in dims))
    for (lead, stage), e in first_crm.items():
        counted.append(
            (
                _ms(e["event_time"]) // 60000 * 60,
                stage,
                lead_attr.get(lead, no_lead),
                0,
                e.get("deal_value_micros") or 0,
                e["event_id"],
            )
        )

    raw: dict[KpiKey, list[int]] = defaultdict(lambda: [0, 0, 0])
    events_counted: dict[tuple[int, str], dict[str, tuple[str, ...]]] = defaultdict(dict)
    for minute, stage, (campaign, values), cost, revenue, event_id in counted:
        events_counted[(minute, stage)][event_id] = (campaign, *(v for _, v in values))
        for dim, value in (("all", "all"), *values):
            row = raw[(minute, campaign, dim, value, stage)]
            row[0] += 1
            row[1] += cost
            row[2] += revenue
    kpi = _top_values(raw, segments)

    rolling = _rolling(kpi, funnel, windows, min(all_minutes), max(all_minutes))
    return Expected({k: (v[0], v[1], v[2]) for k, v in kpi.items()}, rolling, events_counted)


def _top_values(raw: dict[KpiKey, list[int]], segments: SegmentSet) -> dict[KpiKey, list[int]]:
    """Per minute, campaign and dimension the values ranked by their events (all stages,
    ties by value); those past the dimension's top N are merged into (other)."""
    totals: dict[tuple[int, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (minute, campaign, dim, value, _), (n, _, _) in raw.items():
        totals[(minute, campaign, dim)][value] += n
    top = {d.name: d.top for d in segments.dimensions}
    kept = {
        group: set(
            sorted(values, key=lambda v: (-values[v], v))[: top.get(group[2], segments.default_top)]
        )
        for group, values in totals.items()
    }
    out: dict[KpiKey, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (minute, campaign, dim, value, stage), sums in raw.items():
        if dim != "all" and value not in kept[(minute, campaign, dim)]:
            value = OTHER
        row = out[(minute, campaign, dim, value, stage)]
        for i in range(3):
            row[i] += sums[i]
    return out


def _rolling(
    kpi: dict[KpiKey, list[int]], funnel: Funnel, windows: Iterable[int], first: int, last: int
) -> dict[RollKey, tuple[int, int]]:
    """Window sums by prefix sums: a row exists where the group has any fact in the window."""
    n = (last - first) // 60 + 1
    stages = funnel.stage_names
    by_group: dict[tuple[str, str, str], dict[str, list[int]]] = {}
    for (minute, campaign, dim, value, stage), (events, _, _) in kpi.items():
        if dim != "all":  # rolling conversions are kept for whole campaigns only
            continue
        arrays = by_group.setdefault(
            (campaign, dim, value), {s: [0] * n for s in (*stages, "__any__")}
        )
        i = (minute - first) // 60
        arrays["__any__"][i] = 1
        if stage in arrays:
            arrays[stage][i] += events

    def prefix(values: list[int]) -> list[int]:
        out = [0]
        for v in values:
            out.append(out[-1] + v)
        return out

    rolled: dict[RollKey, tuple[int, int]] = {}
    for group, arrays in by_group.items():
        sums = {s: prefix(a) for s, a in arrays.items()}
        for window in windows:
            for i in range(n):
                lo = max(0, i + 1 - window)
                if sums["__any__"][i + 1] == sums["__any__"][lo]:
                    continue
                t = first + i * 60
                for a, b in funnel.transitions:
                    x = sums[a][i + 1] - sums[a][lo]
                    y = sums[b][i + 1] - sums[b][lo]
                    if x or y:
                        rolled[(t, *group, window, a, b)] = (x, y)
    return rolled
