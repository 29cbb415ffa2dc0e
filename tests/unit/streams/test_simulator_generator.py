"""Behaviour of the traffic generator: determinism, realism, incidents and faults."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from funnelwatch.schemas.contracts import InvalidEvent, parse_event_time, validate_raw
from funnelwatch.streams.simulator import (
    Incident,
    SentRecord,
    SimulationConfig,
    default_campaigns,
    form_broken,
    generate,
    generate_timed,
    sales_stop,
)
from funnelwatch.streams.simulator.planning import plan_minutes

# A Monday noon: the rhythm tests below rely on the weekday.
END = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


def config(hours: float = 6, **changes: Any) -> SimulationConfig:
    base = SimulationConfig(
        seed=7,
        start=END - timedelta(hours=hours),
        end=END,
        campaigns=default_campaigns(),
        clicks_per_minute=120,
        diurnal=False,
        weekly=False,
    )
    return replace(base, **changes)


def decoded(records: list[SentRecord]) -> list[dict[str, Any]]:
    """Valid, first-sent records as dicts, each with its send index under ``_i``."""
    out = []
    for i, record in enumerate(records):
        if record.valid and not record.duplicate:
            out.append({**json.loads(record.value), "_i": i})
    return out


@cache
def standard_run() -> tuple[SentRecord, ...]:
    """Two days with rhythm and every fault: shared by the read-only tests."""
    return tuple(
        generate(
            config(
                hours=48,
                diurnal=True,
                weekly=True,
                duplicate_rate=0.02,
                out_of_order_rate=0.05,
                malformed_rate=0.01,
            )
        )
    )


@cache
def day_run() -> tuple[SentRecord, ...]:
    """A flat day with more out-of-order leads than the default."""
    return tuple(generate(config(hours=24, out_of_order_rate=0.05)))


def minute_of(event: dict[str, Any], cfg: SimulationConfig) -> float:
    return (parse_event_time(event["event_time"]) - cfg.start).total_seconds() / 60


def lead_campaign(form: dict[str, Any], clicks: dict[str, dict[str, Any]]) -> str | None:
    if form["click_id"] is not None:
        return str(clicks[form["click_id"]]["campaign_id"])
    utm: str | None = form["utm_campaign"]
    return utm


def test_same_seed_generates_identical_records() -> None:
    cfg = config(hours=2, duplicate_rate=0.05, out_of_order_rate=0.1, malformed_rate=0.05)
    assert list(generate(cfg)) == list(generate(cfg))


def test_different_seeds_generate_different_records_and_ids() -> None:
    first = {r.event_id for r in generate(config(hours=1))}
    second = {r.event_id for r in generate(config(hours=1, seed=8))}
    assert first and second and not first & second


def test_same_seed_with_another_start_shares_no_id() -> None:
    cfg = config(hours=1)
    later = replace(cfg, start=cfg.start + timedelta(minutes=1))
    assert not {r.event_id for r in generate(cfg)} & {r.event_id for r in generate(later)}


def test_every_valid_record_passes_the_validator() -> None:
    cfg = config(hours=3, duplicate_rate=0.05, out_of_order_rate=0.1, malformed_rate=0.05)
    for record in generate(cfg):
        if record.valid:
            validate_raw(record.value, now=END)


def test_every_invalid_record_is_rejected_with_its_recorded_reason() -> None:
    invalid = [r for r in standard_run() if not r.valid]
    assert len(invalid) > 1000
    for record in invalid:
        with pytest.raises(InvalidEvent) as caught:
            validate_raw(record.value, now=END)
        assert caught.value.reason == record.reason


def test_batch_mode_never_emits_future_event_times() -> None:
    now = datetime.now(UTC)
    cfg = config(hours=3, start=now - timedelta(hours=3), end=now, malformed_rate=0.0)
    events = decoded(list(generate(cfg)))
    assert events
    assert max(parse_event_time(e["event_time"]) for e in events) <= now


def test_no_record_is_sent_before_its_event_time() -> None:
    for timed in generate_timed(config(hours=6, out_of_order_rate=0.2, duplicate_rate=0.05)):
        if timed.record.valid:
            event_time = parse_event_time(json.loads(timed.record.value)["event_time"])
            assert int(event_time.timestamp() * 1000) <= timed.send_ms


def test_records_are_sent_in_event_time_order_apart_from_deliberate_faults() -> None:
    cfg = config(hours=12, duplicate_rate=0.0, out_of_order_rate=0.0, malformed_rate=0.0)
    times = [e["event_time"] for e in decoded(list(generate(cfg)))]
    assert times == sorted(times)


def test_keys_follow_the_topic_catalogue() -> None:
    for record in standard_run():
        if record.valid:
            event = json.loads(record.value)
            expected = event["click_id"] if record.topic_key == "clicks" else event["lead_id"]
            assert record.key == expected.encode()
            assert (
                record.topic_key
                == {"ad_click": "clicks", "form_submission": "forms", "crm_event": "crm"}[
                    event["event_type"]
                ]
            )


def test_at_most_one_crm_event_per_lead_and_status() -> None:
    seen = Counter(
        (e["lead_id"], e["status"])
        for e in decoded(list(standard_run()))
        if e["event_type"] == "crm_event"
    )
    assert seen and max(seen.values()) == 1


def test_crm_lifecycle_follows_its_lead_in_time_and_stage_order() -> None:
    events = decoded(list(standard_run()))
    forms = {e["lead_id"]: e for e in events if e["event_type"] == "form_submission"}
    by_lead: dict[str, dict[str, str]] = defaultdict(dict)
    for e in events:
        if e["event_type"] == "crm_event":
            by_lead[e["lead_id"]][e["status"]] = e["event_time"]
            assert (e["deal_value_micros"] is not None) == (e["status"] == "won")
            if e["status"] == "won":
                assert e["deal_value_micros"] > 0
    qualified_statuses = {"presentation_requested", "meeting_booked"}
    for lead_id, statuses in by_lead.items():
        assert lead_id in forms and "contacted" in statuses
        assert forms[lead_id]["event_time"] < statuses["contacted"]
        assert len(qualified_statuses & statuses.keys()) <= 1
        assert not {"won", "lost"} <= statuses.keys()
        for q in qualified_statuses & statuses.keys():
            assert statuses["contacted"] < statuses[q]
            if "won" in statuses:
                assert statuses[q] < statuses["won"]
    statuses_seen = Counter(s for st in by_lead.values() for s in st)
    assert set(statuses_seen) == {
        "contacted",
        "presentation_requested",
        "meeting_booked",
        "won",
        "lost",
    }


def test_click_to_lead_conversion_is_around_five_percent() -> None:
    cfg = config(hours=24)
    events = decoded(list(day_run()))
    clicks = sum(e["event_type"] == "ad_click" for e in events)
    paid_leads = sum(
        e["event_type"] == "form_submission" and e["click_id"] is not None for e in events
    )
    rate = paid_leads / clicks
    assert clicks > 100_000
    assert rate == pytest.approx(cfg.mean_conversion_rate(), rel=0.08)
    assert 0.04 < rate < 0.06


def test_conversion_differs_between_campaigns() -> None:
    events = decoded(list(day_run()))
    clicks = {e["click_id"]: e for e in events if e["event_type"] == "ad_click"}
    per_campaign_clicks = Counter(c["campaign_id"] for c in clicks.values())
    per_campaign_leads = Counter(
        clicks[e["click_id"]]["campaign_id"]
        for e in events
        if e["event_type"] == "form_submission" and e["click_id"]
    )
    rates = {c: per_campaign_leads[c] / n for c, n in per_campaign_clicks.items()}
    assert rates["cmp-search-brand"] > 3 * rates["cmp-display-awareness"]


def test_about_a_tenth_of_leads_have_no_click_and_some_are_unattributable() -> None:
    events = decoded(list(standard_run()))
    forms = [e for e in events if e["event_type"] == "form_submission"]
    campaign_ids = {c.campaign_id for c in default_campaigns()}
    no_click = [f for f in forms if f["click_id"] is None]
    assert 0.09 < len(no_click) / len(forms) < 0.16
    by_utm = Counter(
        "none"
        if f["utm_campaign"] is None
        else "campaign"
        if f["utm_campaign"] in campaign_ids
        else "foreign"
        for f in no_click
    )
    assert by_utm["none"] > 0 and by_utm["foreign"] > 0 and by_utm["campaign"] > 0
    clicked = [f for f in forms if f["click_id"] is not None]
    assert all(f["utm_campaign"] in campaign_ids and f["utm_source"] for f in clicked)


def test_segments_and_costs_are_realistic() -> None:
    clicks = [e for e in decoded(list(standard_run())) if e["event_type"] == "ad_click"]
    assert {c["device"] for c in clicks} == {"desktop", "mobile", "tablet"}
    assert len({c["geo"] for c in clicks}) >= 5
    assert {c["channel"] for c in clicks} >= {"google", "meta", "linkedin", "bing"}
    costs = [c["cost_micros"] for c in clicks]
    assert min(costs) >= 300_000 and max(costs) <= 6_000_000
    groups: dict[str, set[str]] = defaultdict(set)
    for c in clicks:
        groups[c["campaign_id"]].add(c["ad_group_id"])
    assert all(2 <= len(g) <= 4 for g in groups.values())


def test_diurnal_rhythm_is_visible() -> None:
    cfg = config(hours=24, diurnal=True, weekly=False, duplicate_rate=0.0, malformed_rate=0.0)
    hours = Counter(
        parse_event_time(e["event_time"]).hour
        for e in decoded(list(generate(cfg)))
        if e["event_type"] == "ad_click"
    )
    assert sum(hours[h] for h in (10, 11, 12, 13)) > 4 * sum(hours[h] for h in (1, 2, 3, 4))


def test_weekends_are_quieter_than_weekdays() -> None:
    # Saturday and Sunday, then Monday and Tuesday (END is a Monday noon).
    start = datetime(2025, 5, 31, tzinfo=UTC)
    cfg = config(
        start=start, end=start + timedelta(days=4), clicks_per_minute=10, diurnal=False, weekly=True
    )
    days = Counter(
        parse_event_time(e["event_time"]).weekday()
        for e in decoded(list(generate(cfg)))
        if e["event_type"] == "ad_click"
    )
    assert days[5] + days[6] < 0.6 * (days[0] + days[1])


def test_form_broken_incident_stops_leads_of_that_campaign_only() -> None:
    cfg = config(hours=6, incidents=(form_broken("cmp-search-brand", 120, 240),))
    events = decoded(list(generate(cfg)))
    clicks = {e["click_id"]: e for e in events if e["event_type"] == "ad_click"}
    leads: Counter[tuple[str | None, str]] = Counter()
    for e in events:
        if e["event_type"] == "form_submission":
            m = minute_of(e, cfg)
            phase = "before" if m < 120 else "during" if m < 240 else "after"
            leads[(lead_campaign(e, clicks), phase)] += 1
    assert leads[("cmp-search-brand", "during")] == 0
    assert leads[("cmp-search-brand", "before")] > 50 and leads[("cmp-search-brand", "after")] > 50
    assert leads[("cmp-search-generic", "during")] > 20
    brand_clicks_during = sum(
        c["campaign_id"] == "cmp-search-brand" and 120 <= minute_of(c, cfg) < 240
        for c in clicks.values()
    )
    assert brand_clicks_during > 1000


def test_sales_stop_incident_stops_contact_of_that_form_type_only() -> None:
    cfg = config(hours=24, incidents=(sales_stop("demo_request", 360),))
    events = decoded(list(generate(cfg)))
    form_type = {
        e["lead_id"]: e["form_type"] for e in events if e["event_type"] == "form_submission"
    }
    crm = [e for e in events if e["event_type"] == "crm_event"]
    contacted_at = {e["lead_id"]: minute_of(e, cfg) for e in crm if e["status"] == "contacted"}
    demo_contacts = [m for lead, m in contacted_at.items() if form_type[lead] == "demo_request"]
    other_late = [
        m for lead, m in contacted_at.items() if form_type[lead] != "demo_request" and m >= 360
    ]
    assert demo_contacts and max(demo_contacts) < 360
    assert len(other_late) > 100
    # Later stages of demo leads only for leads contacted before the stop.
    for e in crm:
        if form_type[e["lead_id"]] == "demo_request":
            assert contacted_at[e["lead_id"]] < 360


def test_duplicates_reuse_event_id_and_bytes() -> None:
    records = list(standard_run())
    first_seen: dict[str | None, int] = {}
    duplicates = 0
    for i, record in enumerate(records):
        if not record.valid:
            continue
        if record.duplicate:
            duplicates += 1
            original = records[first_seen[record.event_id]]
            assert (original.topic_key, original.key, original.value) == (
                record.topic_key,
                record.key,
                record.value,
            )
            assert not original.duplicate
        else:
            assert record.event_id not in first_seen
            first_seen[record.event_id] = i
    assert duplicates / len(first_seen) == pytest.approx(0.02, rel=0.25)


def test_out_of_order_crm_sent_before_its_form() -> None:
    def early_leads(records: tuple[SentRecord, ...]) -> tuple[int, int]:
        events = decoded(list(records))
        form_at = {e["lead_id"]: e["_i"] for e in events if e["event_type"] == "form_submission"}
        first_crm: dict[str, int] = {}
        for e in events:
            if e["event_type"] == "crm_event":
                first_crm.setdefault(e["lead_id"], e["_i"])
        early = sum(first_crm[lead] < form_at[lead] for lead in first_crm)
        return early, len(first_crm)

    early, with_crm = early_leads(day_run())
    assert early / with_crm == pytest.approx(0.05, rel=0.35)
    assert early_leads(tuple(generate(config(hours=6, out_of_order_rate=0.0))))[0] == 0


def test_malformed_records_have_unique_markers_found_in_their_bytes() -> None:
    bad = [r for r in standard_run() if not r.valid]
    markers = [r.event_id for r in bad]
    assert len(set(markers)) == len(markers)
    valid_ids = {r.event_id for r in standard_run() if r.valid}
    for record in bad:
        assert record.event_id is not None and record.event_id not in valid_ids
        assert record.key == record.event_id.encode()
        assert record.event_id.encode() in record.value
    assert len({r.reason for r in bad}) == 6


def test_max_records_stops_generation_exactly() -> None:
    assert len(list(generate(config(hours=6, max_records=1234)))) == 1234


@pytest.mark.parametrize(
    "incidents",
    [(), (form_broken("cmp-search-generic", 0), sales_stop("demo_request", 60))],
    ids=["no-incident", "incidents"],
)
def test_planned_range_holds_the_requested_records(incidents: tuple[Incident, ...]) -> None:
    base = config(diurnal=True, weekly=True, max_records=50_000, incidents=incidents)
    minutes = plan_minutes(base, 50_000, END)
    cfg = replace(base, start=END - timedelta(minutes=minutes))
    records = list(generate(cfg))
    assert len(records) == 50_000
    # ... and they reach close to the end of the range (little is left over).
    last = max(parse_event_time(e["event_time"]) for e in decoded(records))
    assert END - last < timedelta(minutes=0.1 * minutes)


def test_200k_records_generate_in_well_under_a_minute() -> None:
    base = config(diurnal=True, weekly=True, max_records=200_000)
    cfg = replace(base, start=END - timedelta(minutes=plan_minutes(base, 200_000, END)))
    began = time.perf_counter()
    count = sum(1 for _ in generate(cfg))
    assert count == 200_000
    assert time.perf_counter() - began < 30
