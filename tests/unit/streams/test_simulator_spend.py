"""The simulator's spend reports: late, restated, sometimes out of order, and leaving the
rest of the traffic exactly as it is without them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from funnelwatch.schemas.contracts import validate_raw
from funnelwatch.streams.simulator.generator import generate_timed
from funnelwatch.streams.simulator.model import SimulationConfig, default_campaigns

CONFIG = SimulationConfig(
    seed=3,
    start=datetime(2026, 12, 1, tzinfo=UTC),
    end=datetime(2026, 12, 2, 12, tzinfo=UTC),
    campaigns=default_campaigns(),
    clicks_per_minute=30,
    spend_reports=True,
)


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_turning_reports_on_changes_no_other_record() -> None:
    with_spend = [t for t in generate_timed(CONFIG) if t.record.topic_key != "spend"]
    without = list(generate_timed(replace(CONFIG, spend_reports=False)))
    assert with_spend == without


def test_reports_are_valid_late_restated_and_sometimes_out_of_order() -> None:
    timed = [t for t in generate_timed(CONFIG) if t.record.topic_key == "spend"]
    now = CONFIG.end
    assert now is not None
    reports = []
    for t in timed:
        if not t.record.valid:
            continue
        validate_raw(t.record.value, now=now)
        report = json.loads(t.record.value)
        assert t.send_ms >= _ms(report["event_time"])  # never before its own time
        end = _ms(report["period_start"]) + report["period_seconds"] * 1000
        assert _ms(report["event_time"]) >= end  # reported once the period closed
        reports.append((t.send_ms, report))
    platforms = {r["platform"] for _, r in reports}
    assert platforms == {"google_ads", "microsoft_ads", "meta_ads"}  # LinkedIn reports none
    assert {r["period_seconds"] for _, r in reports} == {3600, 86400}
    versions: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
    for send_ms, r in reports:
        key = (r["campaign_id"], r["ad_group_id"], r["period_start"])
        versions.setdefault(key, []).append((send_ms, r["event_time"]))
    restated = [v for v in versions.values() if len({t for _, t in v}) >= 3]
    assert restated
    assert any(sorted(v) != sorted(v, key=lambda s: s[1]) for v in versions.values())
