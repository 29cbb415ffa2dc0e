"""Google Ads UI downloads: "CSV for Excel" (UTF-16, tabs) and "CSV" (UTF-8, commas)."""

from __future__ import annotations

from pathlib import Path

import pytest

from funnelwatch.connectors.spend.model import SpendFileError

from .support import SAMPLES, figures, load

SAMPLE = SAMPLES / "google_ads_hourly.csv"


def test_the_hourly_sample_gives_one_event_per_ad_group_hour_in_utc() -> None:
    report = load(SAMPLE, "google_ads", timezone="Europe/Berlin", account="123-456-7890")
    brand, broad, generic, display = "158201337712", "158201337713", "158201337801", "158201337905"
    # 9, 10 and 11 o'clock in Berlin (UTC+2 in June)
    h9, h10, h11 = (f"2025-06-02T{h:02d}:00:00+00:00" for h in (7, 8, 9))
    assert [figures(e) for e in report.events] == [
        ("20517746401", brand, "", h9, 3600, 23_870_000, "EUR", 41, 612),
        ("20517746401", brand, "", h10, 3600, 33_120_000, "EUR", 57, 803),
        ("20517746401", brand, "", h11, 3600, 28_050_000, "EUR", 49, 701),
        ("20517746401", broad, "", h9, 3600, 9_400_000, "EUR", 12, 1_204),
        ("20517746401", broad, "", h10, 3600, 0, "EUR", 0, 388),
        ("20517746401", broad, "", h11, 3600, 5_610_000, "EUR", 7, 922),
        ("20517746402", generic, "", h9, 3600, 141_520_000, "EUR", 88, 4_917),
        ("20517746402", generic, "", h10, 3600, 1_012_750_000, "EUR", 401, 18_230),
        ("20517746402", generic, "", h11, 3600, 587_100_000, "EUR", 233, 11_804),
        ("20517746403", display, "", h9, 3600, 4_180_000, "EUR", 3, 12_408),
        ("20517746403", display, "", h10, 3600, 6_020_000, "EUR", 5, 15_117),
        ("20517746403", display, "", h11, 3600, 5_370_000, "EUR", 4, 13_960),
    ]
    # the "Total: ..." rows are not events
    assert report.rows == 12
    assert sum(e.spend_micros for e in report.events) == 1_856_990_000
    assert {(e.platform, e.account_id) for e in report.events} == {("google_ads", "123-456-7890")}


def test_a_daily_utf8_csv_with_customer_id_dashes_and_ads(tmp_path: Path) -> None:
    path = tmp_path / "campaigns.csv"
    path.write_text(
        "Ad report\n"
        '"June 1, 2025 - June 2, 2025"\n'
        "Customer ID,Campaign ID,Ad group ID,Ad ID,Day,Currency code,Clicks,Impressions,Cost\n"
        '987-654-3210,111,222,333,2025-06-01,USD,1,"1,500","1,234.56"\n'
        "987-654-3210,111,--,--,2025-06-02,USD,--,--,--\n"
        'Total: Account,--,--,--,--,USD,1,"1,500","1,234.56"\n',
        encoding="utf-8-sig",
    )
    report = load(path, "google_ads", timezone="America/New_York", account="ignored")
    assert [(figures(e), e.account_id) for e in report.events] == [
        (("111", "222", "333", "2025-06-01T04:00:00+00:00", 86400, 1_234_560_000, "USD", 1,
          1_500), "987-654-3210"),
        (("111", "", "", "2025-06-02T04:00:00+00:00", 86400, 0, "USD", 0, 0), "987-654-3210"),
    ]  # fmt: skip


def test_without_a_currency_code_column_the_currency_option_is_the_currency(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.csv"
    path.write_text("Campaign ID,Day,Hour of day,Cost\n111,2025-06-01,0,2.00\n")
    (event,) = load(path, "google_ads", account="1", currency="PLN").events
    assert (event.currency, event.period_seconds, event.spend_micros) == ("PLN", 3600, 2_000_000)
    with pytest.raises(SpendFileError, match='has no "Currency code" column: pass --currency'):
        load(path, "google_ads", account="1")


def test_without_a_customer_id_column_the_account_option_is_needed(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("Campaign ID,Day,Cost,Currency code\n111,2025-06-01,2.00,EUR\n")
    with pytest.raises(SpendFileError, match='has no "Customer ID" column: pass --account'):
        load(path, "google_ads")
