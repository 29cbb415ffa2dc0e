"""The KPI API against the real stack: its numbers are ClickHouse's numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.oracle_spend import SpendWant, counted_reports, window_spend

from .conftest import CAMPAIGNS, Stack

pytestmark = pytest.mark.integration

STAGES = ("click", "lead", "contacted", "qualified", "won")


def _clickhouse_window(stack: Stack, campaign: str, dim: str, end: int, minutes: int) -> Any:
    """Independent of the API's SQL: FINAL, then plain sums per segment value and stage."""
    client = stack.client()
    try:
        rows = client.execute(
            "SELECT dim_value, stage, sum(events), sum(cost_micros), sum(revenue_micros) "
            "FROM kpi_minute FINAL WHERE campaign_id = %(c)s AND dim = %(d)s "
            "AND toUInt32(minute) > %(lo)s AND toUInt32(minute) <= %(end)s "
            "GROUP BY dim_value, stage",
            {"c": campaign, "d": dim, "lo": end - minutes * 60, "end": end},
        )
        watermark = client.execute(
            "SELECT watermark FROM sink_progress FINAL WHERE name = 'rolling'"
        )[0][0]
    finally:
        client.close()
    out: dict[str, dict[str, Any]] = {}
    for value, stage, n, cost, revenue in rows:
        seg = out.setdefault(str(value), {"counts": {}, "spend": 0, "revenue": 0})
        seg["counts"][str(stage)] = int(n)
        seg["spend"] += int(cost)
        seg["revenue"] += int(revenue)
    return out, int(watermark)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _spend_oracle(stack: Stack, campaign: str, end: int, minutes: int) -> SpendWant:
    """The oracle's spend of the window, from the stored reports and click counts."""
    names = (
        "campaign_id",
        "platform",
        "account_id",
        "ad_group_id",
        "ad_id",
        "period_start",
        "period_seconds",
        "spend_micros",
        "clicks",
        "currency",
        "event_time",
        "event_id",
    )
    client = stack.client()
    try:
        rows = client.execute(
            "SELECT campaign_id, platform, account_id, ad_group_id, ad_id, "
            "toUInt32(period_start), period_seconds, spend_micros, clicks, currency, "
            "reported_at_ms, event_id FROM ad_spend WHERE campaign_id = %(c)s",
            {"c": campaign},
        )
        clicks = {
            (int(m), campaign): (int(n), int(cost))
            for m, n, cost in client.execute(
                "SELECT toUInt32(minute), events, cost_micros FROM kpi_minute FINAL "
                "WHERE campaign_id = %(c)s AND dim = 'all' AND stage = 'click'",
                {"c": campaign},
            )
        }
    finally:
        client.close()
    reports = []
    for row in rows:
        report: dict[str, Any] = {"event_type": "ad_spend", **dict(zip(names, row, strict=True))}
        report["period_start"] = _iso(int(report["period_start"]))
        # reported_at_ms: whole seconds in the simulator, so the float is exact
        report["event_time"] = _iso(int(report["event_time"]) / 1000)
        for name in ("period_seconds", "spend_micros", "clicks"):
            report[name] = int(report[name])
        reports.append(report)
    lo, hi = end - 60 * minutes + 60, end + 60
    return window_spend(counted_reports(reports), clicks, campaign, lo, hi)


def test_campaign_list_is_the_simulators_campaigns(stack: Stack) -> None:
    status, body = stack.get("/api/campaigns")
    assert status == 200, body
    client = stack.client()
    try:
        want = [r[0] for r in client.execute("SELECT DISTINCT campaign_id FROM kpi_minute")]
    finally:
        client.close()
    got = [c["campaign_id"] for c in body["campaigns"]]
    assert got == sorted(want)
    assert set(CAMPAIGNS) <= set(got)
    assert body["watermark"] > 0
    assert all(c["open_alerts"] == 0 for c in body["campaigns"])


@pytest.mark.parametrize("window,minutes", [("15m", 15), ("1h", 60), ("24h", 1440)])
@pytest.mark.parametrize("by", ["all", "channel", "device"])
def test_kpis_equal_clickhouse_sums_per_segment(
    stack: Stack, window: str, minutes: int, by: str
) -> None:
    campaign = CAMPAIGNS[1]
    status, body = stack.get(f"/api/campaigns/{campaign}/kpis?window={window}&by={by}")
    assert status == 200, body
    want, watermark = _clickhouse_window(stack, campaign, by, body["window_end"], minutes)
    assert body["window_end"] == watermark
    assert body["window_minutes"] == minutes
    got = {s["value"]: s for s in body["segments"]}
    assert set(got) == set(want)
    assert sum(sum(w["counts"].values()) for w in want.values()) > 0
    oracle = _spend_oracle(stack, campaign, body["window_end"], minutes)
    assert oracle.has_reports  # the simulator's platform reports this campaign hourly
    assert body["spend"]["currency"] == "USD"
    assert (body["spend"]["reported_micros"], body["spend"]["provisional_micros"]) == (
        oracle.reported,
        oracle.provisional,
    )
    assert body["spend"]["provisional"] == (oracle.provisional > 0)
    clicks_all = sum(w["counts"].get("click", 0) for w in want.values())
    for value, seg in got.items():
        expected = want[value]
        for stage in STAGES:
            assert seg["counts"][stage] == expected["counts"].get(stage, 0), (value, stage)
        # the campaign's spend that counts; a segment's part by its clicks (floor)
        clicks = expected["counts"].get("click", 0)
        expected["spend"] = oracle.spend if by == "all" else oracle.spend * clicks // clicks_all
        assert seg["spend_micros"] == expected["spend"]
        assert seg["revenue_micros"] == expected["revenue"]
        counts, spend = seg["counts"], expected["spend"]
        kpis = seg["kpis"]
        assert kpis["cpc_micros"] == (spend / counts["click"] if counts["click"] else None)
        assert kpis["cpl_micros"] == (spend / counts["lead"] if counts["lead"] else None)
        assert kpis["cac_micros"] == (spend / counts["won"] if counts["won"] else None)
        assert kpis["romi"] == ((expected["revenue"] - spend) / spend if spend else None)
        first = seg["conversions"][0]
        assert (first["from_stage"], first["to_stage"]) == ("click", "lead")
        assert first["rate"] == (counts["lead"] / counts["click"] if counts["click"] else None)


def test_conversion_baseline_is_the_seven_days_before_the_window(stack: Stack) -> None:
    campaign = CAMPAIGNS[2]
    status, body = stack.get(f"/api/campaigns/{campaign}/kpis?window=15m")
    assert status == 200, body
    end = body["window_end"]
    client = stack.client()
    try:
        rows = dict(
            client.execute(
                "SELECT stage, sum(events) FROM kpi_minute FINAL WHERE campaign_id = %(c)s "
                "AND dim = 'all' AND toUInt32(minute) > %(lo)s AND toUInt32(minute) <= %(hi)s "
                "GROUP BY stage",
                {"c": campaign, "lo": end - 900 - 7 * 86400, "hi": end - 900},
            )
        )
    finally:
        client.close()
    conv = body["segments"][0]["conversions"][0]
    assert conv["baseline_from_events"] == int(rows["click"]) > 0
    assert conv["baseline_to_events"] == int(rows.get("lead", 0))
    assert conv["baseline_rate"] == int(rows.get("lead", 0)) / int(rows["click"])


def test_conversion_history_comes_from_conversion_rolling(stack: Stack) -> None:
    campaign = CAMPAIGNS[0]
    status, body = stack.get(f"/api/campaigns/{campaign}/conversions?window=15m&hours=3")
    assert status == 200, body
    series = {(s["from_stage"], s["to_stage"]): s["points"] for s in body["series"]}
    points = series[("click", "lead")]
    assert len(points) >= 10
    client = stack.client()
    try:
        for minute, from_events, to_events, rate in points[-3:]:
            row = client.execute(
                "SELECT from_events, to_events FROM conversion_rolling FINAL "
                "WHERE campaign_id = %(c)s AND dim = 'all' AND window_minutes = 15 "
                "AND from_stage = 'click' AND to_stage = 'lead' AND minute = toDateTime(%(m)s)",
                {"c": campaign, "m": minute},
            )
            assert [(int(row[0][0]), int(row[0][1]))] == [(from_events, to_events)]
            assert rate == (to_events / from_events if from_events else None)
    finally:
        client.close()


@pytest.mark.parametrize(
    "query,message",
    [
        ("window=2h", "window must be one of 15m, 1h, 24h"),
        (
            "by=color",
            "by must be one of all, channel, ad_group, device, geo, form_type, landing_page",
        ),
        ("window=", "window must be one of"),
    ],
)
def test_bad_window_or_segment_is_a_400_naming_the_choices(
    stack: Stack, query: str, message: str
) -> None:
    status, body = stack.get(f"/api/campaigns/{CAMPAIGNS[0]}/kpis?{query}")
    assert status == 400
    assert message in body["error"]


def test_unknown_campaign_is_a_404(stack: Stack) -> None:
    for path in ("kpis", "conversions"):
        status, body = stack.get(f"/api/campaigns/no-such-campaign/{path}")
        assert status == 404
        assert body["error"] == "unknown campaign 'no-such-campaign'"


def test_open_alert_is_listed_until_resolved(stack: Stack) -> None:
    campaign = CAMPAIGNS[2]
    stack.insert_alert("test-drop-1", campaign, "conversion_drop", "firing")
    status, body = stack.get(f"/api/campaigns/{campaign}/kpis")
    assert status == 200
    assert [a["alert_id"] for a in body["alerts"]] == ["test-drop-1"]
    assert body["alerts"][0]["kind"] == "conversion_drop"
    assert body["alerts"][0]["segments"] == ["all=all"]
    listed = {
        c["campaign_id"]: c["open_alerts"] for c in stack.get("/api/campaigns")[1]["campaigns"]
    }
    assert listed[campaign] == 1
    stack.insert_alert("test-drop-1", campaign, "conversion_drop", "resolved")
    status, body = stack.get(f"/api/campaigns/{campaign}/kpis")
    assert body["alerts"] == []
    assert stack.get("/api/alerts")[1]["alerts"] == []


def test_openapi_describes_every_route(stack: Stack) -> None:
    status, doc = stack.get("/api/openapi.json")
    assert status == 200
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {
        "/",
        "/metrics",
        "/api/openapi.json",
        "/api/campaigns",
        "/api/alerts",
        "/api/campaigns/{campaign_id}/kpis",
        "/api/campaigns/{campaign_id}/conversions",
        "/api/campaigns/{campaign_id}/bid",
        "/api/campaigns/{campaign_id}/cohorts",
        "/ingest/clicks",
        "/ingest/forms",
        "/ingest/crm",
        "/ingest/spend",
        "/t.js",
        "/collect",
    }
    for path in ("/", "/metrics", "/api/openapi.json", "/api/campaigns", "/api/alerts"):
        assert stack.get(path)[0] == 200, path
