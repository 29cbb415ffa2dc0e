"""Yandex Direct Reports service TSV: report name line, micros, "Total rows: N"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from funnelwatch.connectors.spend.model import SpendFileError

from .support import SAMPLES, figures, load

SAMPLE = SAMPLES / "yandex_direct_daily.tsv"
HEADER = "Date\tCampaignId\tAdGroupId\tImpressions\tClicks\tCost"


def test_the_daily_sample_gives_one_event_per_ad_group_day_in_exact_micros() -> None:
    report = load(
        SAMPLE, "yandex_direct", timezone="Europe/Moscow", account="shop-direct", currency="RUB"
    )
    brand, search_retarget = "98765432", "98765501"
    exact, typos, visitors = "5123456701", "5123456702", "5123457810"
    d1, d2, d3 = (f"2025-0{m}T21:00:00+00:00" for m in ("5-31", "6-01", "6-02"))  # MSK midnight
    assert [figures(e) for e in report.events] == [
        (brand, exact, "", d1, 86400, 5_432_100_000, "RUB", 212, 1_840),
        (brand, typos, "", d1, 86400, 1_187_400_000, "RUB", 48, 655),
        (search_retarget, visitors, "", d1, 86400, 2_914_583_333, "RUB", 131, 48_210),
        (brand, exact, "", d2, 86400, 5_790_250_000, "RUB", 227, 1_912),
        (brand, typos, "", d2, 86400, 1_260_000_000, "RUB", 51, 702),
        (search_retarget, visitors, "", d2, 86400, 3_120_916_667, "RUB", 142, 51_377),
        (brand, exact, "", d3, 86400, 5_101_800_000, "RUB", 198, 1_774),
        (brand, typos, "", d3, 86400, 0, "RUB", 0, 0),
        (search_retarget, visitors, "", d3, 86400, 2_688_333_333, "RUB", 120, 46_902),
    ]
    assert {(e.platform, e.account_id) for e in report.events} == {("yandex_direct", "shop-direct")}


def test_money_with_a_decimal_point_is_in_currency_units(tmp_path: Path) -> None:
    # returnMoneyInMicros: false, skipReportHeader and skipReportSummary: true
    path = tmp_path / "r.tsv"
    path.write_text(
        "Date\tCampaignId\tAdGroupId\tCost\tCurrency\n"
        "2025-06-01\t10\t--\t5432.10\tRUB\n"
        "2025-06-01\t11\t--\t12\tRUB\n"
    )
    report = load(path, "yandex_direct", account="a")
    assert [(e.campaign_id, e.ad_group_id, e.spend_micros, e.currency, e.clicks)
            for e in report.events] == [
        ("10", "", 5_432_100_000, "RUB", 0), ("11", "", 12_000_000, "RUB", 0)
    ]  # fmt: skip


def test_a_total_rows_count_that_differs_means_a_cut_off_file(tmp_path: Path) -> None:
    path = tmp_path / "r.tsv"
    path.write_text(f'"r (2025-06-01 - 2025-06-01)"\n{HEADER}\n2025-06-01\t1\t2\t3\t4\t5\n'
                    "Total rows: 2\n")  # fmt: skip
    with pytest.raises(
        SpendFileError, match=f"^{re.escape(str(path))}: row 4: the report says 2 rows but has 1"
    ):
        load(path, "yandex_direct", account="a", currency="RUB")


def test_the_account_is_always_the_option(tmp_path: Path) -> None:
    path = tmp_path / "r.tsv"
    path.write_text(f"{HEADER}\n2025-06-01\t1\t2\t3\t4\t5\nTotal rows: 1\n")
    with pytest.raises(SpendFileError, match="has no account column: pass --account"):
        load(path, "yandex_direct", currency="RUB")
    (event,) = load(path, "yandex_direct", account="a", currency="RUB").events
    assert (event.spend_micros, event.clicks, event.impressions) == (5, 4, 3)
