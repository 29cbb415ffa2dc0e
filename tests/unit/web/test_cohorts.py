"""The cohort view's pure parts: the range of days, maturities, the documents built from
cohort rows and spend, the maturity setting, and the route's guard and parameters."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from funnelwatch.processors.app import create_pipeline
from funnelwatch.processors.cohorts import WEEK, ContactDeadline, contact_deadline
from funnelwatch.processors.cohorts.sql import CohortRange, CohortRow, maturity_seconds
from funnelwatch.processors.spend.sql import WindowSpend, no_spend
from funnelwatch.processors.web.cohorts import cohort_documents, cohort_range
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.settings import Settings

FUNNEL = load_funnel()
DAY = 86400
D0 = 1_795_910_400 // DAY * DAY
MATURITY = {"contacted": 3600, "qualified": DAY, "won": 30 * DAY, "lost": 30 * DAY}


def _row(day: int, value: str = "all", **kw: Any) -> CohortRow:
    fields: dict[str, Any] = dict(
        cohort_start=day,
        value=value,
        leads=10,
        reached={"contacted": 8, "qualified": 4, "won": 2, "lost": 3},
        mature={"contacted": 10, "qualified": 5, "won": 0, "lost": 0},
        revenue_micros=50_000_000,
        contacted=8,
        delay_ms={50: 90_000, 90: 600_000},
        judged=9,
        uncontacted=3,
    )
    fields.update(kw)
    return CohortRow(**fields)


def _spend(spend: int, clicks: int = 100, currencies: tuple[str, ...] = ("USD",)) -> WindowSpend:
    return WindowSpend("A", clicks, 1, True, D0 + DAY, spend, 0, spend, currencies, "reported")


TYPED = ContactDeadline(15, {"callback": 5, "download": 1440}, "form_type")
FIFTEEN = ContactDeadline(15)


def _range(dim: str = "all", days: int = 2, deadline: ContactDeadline = FIFTEEN) -> CohortRange:
    return CohortRange("A", dim, D0, days, D0 + DAY + 3600, deadline, MATURITY)


def test_the_range_is_the_days_ending_with_the_watermarks_day() -> None:
    r = cohort_range("A", "all", 3, TYPED, D0 + 5 * 3600, MATURITY)
    assert (r.first_day, r.days, r.end, r.now) == (D0 - 2 * DAY, 3, D0 + DAY, D0 + 5 * 3600)
    early = cohort_range("A", "all", 7, TYPED, 2 * DAY + 1, MATURITY)
    assert (early.first_day, early.days) == (0, 3)  # never before 1970


def test_a_week_range_starts_on_mondays() -> None:
    # D0 is a Sunday: its week began on the Monday six days before
    r = cohort_range("A", "all", 2, TYPED, D0 + 5 * 3600, MATURITY, period=WEEK)
    assert (r.first_day, r.days, r.end) == (D0 - 13 * DAY, 2, D0 + DAY)
    (doc, _) = cohort_documents(
        FUNNEL, r, [], {r.first_day: no_spend("A"), r.first_day + 7 * DAY: no_spend("A")}, {}, "USD"
    )
    assert (doc["cohort_start"], doc["cohort_end"], doc["open"]) == (
        D0 - 13 * DAY,
        D0 - 6 * DAY,
        False,
    )


def test_a_cohorts_deadline_is_known_when_its_leads_share_one() -> None:
    docs = cohort_documents(
        FUNNEL,
        _range("form_type", 1, TYPED),
        [_row(D0, "callback"), _row(D0, "webinar")],
        {D0: no_spend("A")},
        {},
        "USD",
    )
    assert [d["speed_to_lead"]["within_minutes"] for d in docs] == [5, 15]
    (mixed,) = cohort_documents(
        FUNNEL, _range("all", 1, TYPED), [_row(D0)], {D0: no_spend("A")}, {}, "USD"
    )
    assert mixed["speed_to_lead"]["within_minutes"] is None
    (one,) = cohort_documents(
        FUNNEL, _range("all", 1, TYPED.only(30)), [_row(D0)], {D0: no_spend("A")}, {}, "USD"
    )
    assert one["speed_to_lead"]["within_minutes"] == 30


def test_a_form_type_map_needs_a_form_type_dimension_when_set() -> None:
    with pytest.raises(ValueError, match="lead-level segment dimension with form: form_type"):
        contact_deadline(15, {"callback": 5}, None, explicit=True)
    # the built-in map is not an error without the dimension: every lead takes the default
    quiet = contact_deadline(15, {"callback": 5}, None, explicit=False)
    assert quiet.uniform and quiet.minutes_for("callback") == 15
    assert contact_deadline(15, {"callback": 5}, "form_type", True).minutes_for("callback") == 5


def test_a_deadline_outside_a_week_is_refused(tmp_path: Path) -> None:
    for bad in (0, 7 * 1440 + 1):
        with pytest.raises(ValidationError, match="between 1 and 10080"):
            Settings(data_dir=tmp_path, uncontacted_after_minutes_by_form_type={"x": bad})


def test_a_stage_without_a_maturity_takes_the_longest_named() -> None:
    assert maturity_seconds(FUNNEL, {"contacted": 1.5, "won": 48}) == {
        "contacted": 5400,
        "qualified": 48 * 3600,
        "won": 48 * 3600,
        "lost": 48 * 3600,
    }
    assert set(maturity_seconds(FUNNEL, {})) == {"contacted", "qualified", "won", "lost"}


def test_a_cohort_document_holds_counts_conversions_maturity_cost_and_speed() -> None:
    (doc, young) = cohort_documents(
        FUNNEL, _range(), [_row(D0)], {D0: _spend(20_000_000), D0 + DAY: no_spend("A")}, {}, "USD"
    )
    assert doc["counts"] == {"lead": 10, "contacted": 8, "qualified": 4, "won": 2, "lost": 3}
    assert [(c["from_stage"], c["to_stage"], c["rate"]) for c in doc["conversions"]] == [
        ("lead", "contacted", 0.8),
        ("contacted", "qualified", 0.5),
        ("qualified", "won", 0.5),
    ]
    assert doc["maturity"] == {"contacted": 1.0, "qualified": 0.5, "won": 0.0, "lost": 0.0}
    assert doc["spend_micros"] == 20_000_000 and doc["spend"]["basis"] == "reported"
    assert doc["kpis"] == {
        "cpl_micros": 2_000_000,
        "cost_per_qualified_micros": 5_000_000,
        "cac_micros": 10_000_000,
        "romi": 1.5,
    }
    assert doc["speed_to_lead"] == {
        "median_minutes": 1.5,
        "p90_minutes": 10.0,
        "contacted": 8,
        "within_minutes": 15,
        "judged_leads": 9,
        "uncontacted_after_within": 3,
        "uncontacted_after_within_share": 1 / 3,
    }
    assert (doc["cohort_start"], doc["cohort_end"], doc["open"]) == (D0, D0 + DAY, False)
    # the day without leads is still listed for the whole campaign, with no ratio at all
    assert young["open"] and young["counts"]["lead"] == 0
    assert all(c["rate"] is None for c in young["conversions"])
    assert set(young["maturity"].values()) == {None}
    assert young["kpis"] == dict.fromkeys(
        ("cpl_micros", "cost_per_qualified_micros", "cac_micros", "romi")
    )
    assert young["speed_to_lead"]["median_minutes"] is None
    assert young["speed_to_lead"]["uncontacted_after_within_share"] is None


def test_a_segment_gets_the_days_spend_by_its_clicks_and_is_listed_for_clicks_alone() -> None:
    rows = [_row(D0, "mobile")]
    clicks = {(D0, "mobile"): (30, 999), (D0, "tablet"): (7, 1), (D0, "desktop"): (0, 0)}
    docs = cohort_documents(
        FUNNEL, _range("device", 1), rows, {D0: _spend(1_000_001, clicks=90)}, clicks, "USD"
    )
    assert [(d["value"], d["spend_micros"]) for d in docs] == [
        ("mobile", 1_000_001 * 30 // 90),
        ("tablet", 1_000_001 * 7 // 90),
    ]
    assert docs[1]["counts"]["lead"] == 0 and docs[1]["kpis"]["cpl_micros"] is None
    assert docs[0]["spend"]["spend_micros"] == 1_000_001  # the campaign's, as kpis shows it


def test_no_romi_across_currencies_and_no_cost_across_two() -> None:
    (eur,) = cohort_documents(
        FUNNEL, _range(days=1), [_row(D0)], {D0: _spend(5, currencies=("EUR",))}, {}, "USD"
    )
    assert eur["kpis"]["romi"] is None and eur["kpis"]["cpl_micros"] == 0.5
    (mixed,) = cohort_documents(
        FUNNEL, _range(days=1), [_row(D0)], {D0: _spend(5, currencies=("EUR", "USD"))}, {}, "USD"
    )
    assert mixed["spend_micros"] is None and set(mixed["kpis"].values()) == {None}
    assert "currencies" in mixed["spend"]["error"]


def test_conversions_of_nested_counts_never_exceed_one() -> None:
    row = _row(D0, leads=3, reached={"contacted": 3, "qualified": 3, "won": 3, "lost": 0})
    (doc,) = cohort_documents(FUNNEL, _range(days=1), [row], {D0: no_spend("A")}, {}, "USD")
    assert [c["rate"] for c in doc["conversions"]] == [1.0, 1.0, 1.0]


def test_a_negative_or_infinite_maturity_setting_is_refused(tmp_path: Path) -> None:
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValidationError, match="maturities"):
            Settings(data_dir=tmp_path, cohort_maturity_hours={"won": bad})


def test_the_route_answers_only_a_read_token_and_refuses_bad_parameters(tmp_path: Path) -> None:
    token = "r" * 24
    pipeline = create_pipeline(
        Settings(data_dir=tmp_path, clickhouse_url=f"chdb://{tmp_path}", read_token=token)
    )
    web = pipeline.app.web
    web.init_server()
    path = "/api/campaigns/A/cohorts"
    bearer = {"Authorization": f"Bearer {token}"}
    asks = [
        (path, {}),
        (path, {"Authorization": "Bearer " + "x" * 24}),
        (path + "?by=form", bearer),
        (path + "?days=0", bearer),
        (path + "?days=32", bearer),
        (path + "?within=x", bearer),
        (path + "?period=month", bearer),
        (path + "?period=week&days=3", bearer),
        (path + "?period=week&weeks=27", bearer),
    ]

    async def run() -> list[tuple[int, str]]:
        out = []
        async with TestClient(TestServer(web.web_app)) as client:
            for url, headers in asks:
                response = await client.get(url, headers=headers)
                out.append((response.status, (await response.json())["error"]))
        return out

    answers = asyncio.run(run())
    assert [status for status, _ in answers] == [401, 401, 400, 400, 400, 400, 400, 400, 400]
    assert "by must be one of all, channel, ad_group, device, geo" in answers[2][1]
    assert "days must be between 1 and 31" in answers[4][1]
    assert "days is for period=day; use weeks" in answers[7][1]
    assert "weeks must be between 1 and 26" in answers[8][1]
