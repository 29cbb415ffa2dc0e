"""Meta Ads Manager exports: the currency in the amount column's name, a summary row."""

from __future__ import annotations

from pathlib import Path

import pytest

from funnelwatch.connectors.spend.model import SpendFileError

from .support import SAMPLES, figures, load

SAMPLE = SAMPLES / "meta_ads_daily.csv"


def test_the_daily_sample_gives_one_event_per_ad_set_day() -> None:
    report = load(SAMPLE, "meta_ads", timezone="America/New_York")
    prospecting, retargeting = "120214587330560123", "120214587330560789"
    lookalike, interest, visitors = "120214587330560456", "120214587330560457", "120214587330560790"
    d1, d2, d3 = (f"2025-06-0{d}T04:00:00+00:00" for d in (1, 2, 3))  # midnight EDT
    assert [figures(e) for e in report.events] == [
        (prospecting, lookalike, "", d1, 86400, 143_270_000, "USD", 212, 18_412),
        (prospecting, lookalike, "", d2, 86400, 151_080_000, "USD", 198, 19_077),
        (prospecting, lookalike, "", d3, 86400, 138_640_000, "USD", 207, 17_350),
        (prospecting, interest, "", d1, 86400, 96_400_000, "USD", 131, 14_220),
        # Ads Manager leaves "Link clicks" empty where there were none
        (prospecting, interest, "", d2, 86400, 88_150_000, "USD", 0, 13_105),
        (prospecting, interest, "", d3, 86400, 102_990_000, "USD", 140, 15_486),
        (retargeting, visitors, "", d1, 86400, 41_520_000, "USD", 88, 5_120),
        (retargeting, visitors, "", d2, 86400, 1_043_900_000, "USD", 1_211, 61_904),
        (retargeting, visitors, "", d3, 86400, 39_070_000, "USD", 79, 4_871),
    ]
    # the summary row (first, no campaign) is not an event: its total is the events' sum
    assert sum(e.spend_micros for e in report.events) == 1_845_020_000
    assert {e.account_id for e in report.events} == {"1029384756102938"}


def test_hourly_rows_in_the_ad_account_time_zone(tmp_path: Path) -> None:
    path = tmp_path / "hourly.csv"
    path.write_text(
        "Campaign ID,Ad set ID,Ad ID,Time of day (ad account time zone),Amount spent (EUR),"
        "Impressions,Clicks (all),Reporting starts,Reporting ends\n"
        "11,22,33,00:00:00 - 00:59:59,1.25,100,4,2025-06-02,2025-06-02\n"
        "11,22,33,23:00:00 - 23:59:59,2.50,200,,2025-06-02,2025-06-02\n"
    )
    report = load(path, "meta_ads", timezone="Europe/Berlin", account="act-1")
    assert [figures(e) for e in report.events] == [
        ("11", "22", "33", "2025-06-01T22:00:00+00:00", 3600, 1_250_000, "EUR", 4, 100),
        ("11", "22", "33", "2025-06-02T21:00:00+00:00", 3600, 2_500_000, "EUR", 0, 200),
    ]


def test_link_clicks_are_preferred_to_all_clicks(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        "Campaign ID,Day,Amount spent (USD),Clicks (all),Link clicks\n11,2025-06-02,1,90,40\n"
    )
    (event,) = load(path, "meta_ads", account="a").events
    assert event.clicks == 40


def test_a_plain_amount_column_takes_the_currency_column(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("Campaign ID,Day,Amount spent,Currency\n11,2025-06-02,3.10,gbp\n")
    (event,) = load(path, "meta_ads", account="a").events
    assert (event.currency, event.spend_micros) == ("GBP", 3_100_000)


def test_a_row_over_several_days_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        "Campaign ID,Amount spent (USD),Reporting starts,Reporting ends\n"
        "11,1.00,2025-06-01,2025-06-07\n"
    )
    with pytest.raises(SpendFileError) as caught:
        load(path, "meta_ads", account="a")
    assert str(caught.value).startswith(
        f'{path}: row 2, column "Reporting ends": the row covers 2025-06-01 to 2025-06-07'
    )


def test_hours_in_the_viewers_time_zone_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        "Campaign ID,Day,Time of day (viewer's time zone),Amount spent (USD)\n"
        "11,2025-06-01,00:00:00 - 00:59:59,1.00\n"
    )
    with pytest.raises(SpendFileError, match=r"row 1, column \"Time of day \(viewer's"):
        load(path, "meta_ads", account="a")


def test_an_empty_campaign_id_after_the_first_row_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("Campaign ID,Day,Amount spent (USD)\n11,2025-06-01,1.00\n,2025-06-01,2.00\n")
    with pytest.raises(SpendFileError, match='row 3, column "Campaign ID": "" is not an id'):
        load(path, "meta_ads", account="a")
