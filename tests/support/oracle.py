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

UNATTRIBUTED, UNKNOWN = "(unattributed)", "(unknown)"
KpiKey = tuple[int, str, str, str, str]  # minute, campaign, dim, dim_value, stage
RollKey = tuple[int, str, str, str, int, str, str]  # minute, campaign, dim, value, window, from, to


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
    #: (minute, stage) -> {event_id: "campaign/channel/ad group/device/geo"} of the
    #: counted events (for failure reports)
    counted: dict[tuple[int, str], dict[str, str]]


def _segments(
    campaign: str, channel: str, ad_group: str, device: str, geo: str
) -> list[tuple[str, str, str]]:
    return [
        (campaign, "all", "all"),
        (campaign, "channel", channel),
        (campaign, "ad_group", ad_group),
        (campaign, "device", device),
        (campaign, "geo", geo),
    ]


def expected(events: Iterable[dict[str, Any]], funnel: Funnel, windows: Iterable[int]) -> Expected:
    events = list(events)
    clicks = {e["click_id"]: e for e in events if e["event_type"] == "ad_click"}
    stage_of_status = {st: s.name for s in funnel.stages + funnel.outcomes for st in s.statuses}
    lead_stage = funnel.stages[1].name

    def form_attr(f: dict[str, Any]) -> tuple[str, str, str, str, str]:
        click = clicks.get(f.get("click_id") or "")
        if click is not None:
            return (
                click["campaign_id"],
                click["channel"],
                click["ad_group_id"],
                click.get("device") or UNKNOWN,
                click.get("geo") or UNKNOWN,
            )
        dev, geo = f.get("device") or UNKNOWN, f.get("geo") or UNKNOWN
        if f.get("utm_campaign"):
            return (
                f["utm_campaign"],
                f.get("utm_source") or UNKNOWN,
                f.get("utm_content") or UNKNOWN,
                dev,
                geo,
            )
        return (UNATTRIBUTED, UNKNOWN, UNKNOWN, dev, geo)

    counted: list[tuple[int, str, tuple[str, str, str, str, str], int, int, str]] = []
    all_minutes: list[int] = []
    for c in clicks.values():
        m = _ms(c["event_time"]) // 60000 * 60
        seg = (
            c["campaign_id"],
            c["channel"],
            c["ad_group_id"],
            c.get("device") or UNKNOWN,
            c.get("geo") or UNKNOWN,
        )
        counted.append((m, "click", seg, c["cost_micros"], 0, c["event_id"]))
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
    no_lead = (UNATTRIBUTED, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)
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

    kpi: dict[KpiKey, list[int]] = defaultdict(lambda: [0, 0, 0])
    events_counted: dict[tuple[int, str], dict[str, str]] = defaultdict(dict)
    for minute, stage, seg, cost, revenue, event_id in counted:
        events_counted[(minute, stage)][event_id] = "/".join(seg)
        for campaign, dim, value in _segments(*seg):
            row = kpi[(minute, campaign, dim, value, stage)]
            row[0] += 1
            row[1] += cost
            row[2] += revenue

    rolling = _rolling(kpi, funnel, windows, min(all_minutes), max(all_minutes))
    return Expected({k: (v[0], v[1], v[2]) for k, v in kpi.items()}, rolling, events_counted)


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
