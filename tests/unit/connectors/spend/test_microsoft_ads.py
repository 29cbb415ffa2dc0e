"""Microsoft Advertising reports: the preamble and footer, TimePeriod days and hours, the
Reporting service's column names and the web interface's labels."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from funnelwatch.cli import spend_group
from funnelwatch.connectors.spend.model import SpendFileError

from .support import REPORTED_AT, SAMPLES, figures, load

SAMPLE = SAMPLES / "microsoft_ads_hourly.csv"
HEADER = '"AccountNumber","TimePeriod","CampaignId","AdGroupId","CurrencyCode","Clicks","Spend"'
GOOD = '"F1","2025-06-02|{hour}","41","12","EUR","3","1.50"'
H7, H8 = GOOD.format(hour=7), GOOD.format(hour=8)


def service_report(
    *rows: str, aggregation: str = "Hourly", count: int | None = None, header: str = HEADER
) -> str:
    """A report as the service writes it: the preamble (rows 1-6), a blank row, the header
    (row 8), the data rows from row 9, a blank row and the footer."""
    return (
        '"Report Name: Campaigns by hour"\n'
        '"Report Time: 6/2/2025"\n'
        '"Time Zone: (GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London"\n'
        f'"Report Aggregation: {aggregation}"\n'
        '"Potential Incomplete Data: true"\n'
        f'"Rows: {len(rows) if count is None else count}"\n'
        "\n"
        f"{header}\n"
        + "".join(f"{row}\n" for row in rows)
        + '\n"©2026 Microsoft Corporation. All rights reserved. "\n'
    )


def test_the_hourly_sample_gives_one_event_per_ad_group_hour_in_utc() -> None:
    report = load(SAMPLE, "microsoft_ads", timezone="Europe/Berlin")
    brand, generic = "412345678", "412345990"
    exact, phrase, trail = "1234567890123", "1234567890124", "1234567891001"
    # 9, 10 and 11 o'clock in Berlin (UTC+2 in June)
    h9, h10, h11 = (f"2025-06-02T{h:02d}:00:00+00:00" for h in (7, 8, 9))
    assert [figures(e) for e in report.events] == [
        (brand, exact, "", h9, 3600, 25_300_000, "EUR", 44, 655),
        (brand, exact, "", h10, 3600, 35_680_000, "EUR", 61, 812),
        (brand, exact, "", h11, 3600, 29_950_000, "EUR", 52, 734),
        (brand, phrase, "", h9, 3600, 10_140_000, "EUR", 13, 1_187),
        (brand, phrase, "", h10, 3600, 0, "EUR", 0, 402),
        (brand, phrase, "", h11, 3600, 6_320_000, "EUR", 8, 951),
        (generic, trail, "", h9, 3600, 146_090_000, "EUR", 91, 5_032),
        (generic, trail, "", h10, 3600, 1_004_460_000, "EUR", 387, 17_840),
        (generic, trail, "", h11, 3600, 598_800_000, "EUR", 240, 12_116),
    ]
    # the preamble ("Rows: 9") and the copyright footer are not rows
    assert report.rows == 9
    assert sum(e.spend_micros for e in report.events) == 1_856_740_000
    # the account number (as the interface shows it) is preferred to the numeric id
    assert {(e.platform, e.account_id) for e in report.events} == {("microsoft_ads", "F1234567")}


def test_a_daily_report_with_the_web_interface_labels_and_no_preamble(tmp_path: Path) -> None:
    path = tmp_path / "campaigns.csv"
    path.write_text(
        "Account name,Account number,Account ID,Campaign name,Campaign ID,Time period,"
        "Currency code,Impressions,Clicks,Spend\n"
        'Shop US,X7012345,187654399,"Brand, US",512,2025-06-01,USD,1500,12,"1,234.56"\n'
        'Shop US,X7012345,187654399,"Brand, US",512,2025-06-02,USD,0,0,0.00\n',
        encoding="utf-8-sig",
    )
    report = load(path, "microsoft_ads", timezone="America/New_York", account="ignored")
    assert [(figures(e), e.account_id) for e in report.events] == [
        (("512", "", "", "2025-06-01T04:00:00+00:00", 86400, 1_234_560_000, "USD", 12, 1_500),
         "X7012345"),
        (("512", "", "", "2025-06-02T04:00:00+00:00", 86400, 0, "USD", 0, 0), "X7012345"),
    ]  # fmt: skip


def test_format_version_2_hours_in_a_tab_separated_report(tmp_path: Path) -> None:
    path = tmp_path / "r.tsv"
    path.write_text(
        '"Report Aggregation: Hourly"\n\n'
        "AccountId\tTimePeriod\tCampaignId\tAdGroupId\tAdId\tImpressions\tSpend\n"
        "187654321\t2025-06-02|0\t41\t12\t\t100\t1.25\n"
        "187654321\t2025-06-02|23\t41\t12\t77\t200\t2.50\n"
    )
    report = load(path, "microsoft_ads", timezone="Europe/Berlin", currency="EUR")
    assert [(figures(e), e.account_id) for e in report.events] == [
        (("41", "12", "", "2025-06-01T22:00:00+00:00", 3600, 1_250_000, "EUR", 0, 100),
         "187654321"),
        (("41", "12", "77", "2025-06-02T21:00:00+00:00", 3600, 2_500_000, "EUR", 0, 200),
         "187654321"),
    ]  # fmt: skip


def test_a_gregorian_date_with_an_hour_of_day_column_gives_hours(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("Campaign ID,Gregorian date,Hour of day,Spend\n41,2025-06-02,9,4.00\n")
    (event,) = load(path, "microsoft_ads", account="F1", currency="GBP").events
    assert figures(event) == ("41", "", "", "2025-06-02T09:00:00+00:00", 3600, 4_000_000,
                              "GBP", 0, 0)  # fmt: skip


def test_the_preamble_and_footer_are_skipped_whatever_the_report_says(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    # the footer as the Reporting guide prints it; the data may be incomplete
    path.write_text(service_report(H7, H8).replace("©2026", "@2020"))
    loaded = load(path, "microsoft_ads")
    assert loaded.rows == 2
    assert [e.period_start.hour for e in loaded.events] == [7, 8]


def test_without_account_or_currency_columns_the_options_are_needed(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text('"TimePeriod","CampaignId","Spend"\n"2025-06-02","41","2.00"\n')
    with pytest.raises(SpendFileError, match='no "AccountNumber" or "AccountId" column: pass'):
        load(path, "microsoft_ads", currency="EUR")
    with pytest.raises(SpendFileError, match='has no "CurrencyCode" column: pass --currency'):
        load(path, "microsoft_ads", account="F1")
    (event,) = load(path, "microsoft_ads", account="F1", currency="EUR").events
    assert (event.account_id, event.currency, event.period_seconds) == ("F1", "EUR", 86400)


def test_a_restated_report_of_the_same_hours_replaces_the_earlier() -> None:
    first = load(SAMPLE, "microsoft_ads", timezone="Europe/Berlin")
    later = load(SAMPLE, "microsoft_ads", timezone="Europe/Berlin",
                 reported_at=REPORTED_AT + timedelta(minutes=30))  # fmt: skip
    assert [figures(e) for e in first.events] == [figures(e) for e in later.events]
    # new ids and a later event time: the pipeline keeps the newer figures
    assert not {e.event_id for e in first.events} & {e.event_id for e in later.events}
    assert {e.event_time for e in later.events} == {REPORTED_AT + timedelta(minutes=30)}


def test_the_command_offers_the_format() -> None:
    reported_at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    result = CliRunner().invoke(spend_group, [
        "import", str(SAMPLE), "--format", "microsoft_ads", "--timezone", "Europe/Berlin",
        "--reported-at", reported_at, "--dry-run",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 9 and {line["value"]["platform"] for line in lines} == {"microsoft_ads"}
    assert lines[0]["key"] == "412345678"
    assert lines[0]["value"]["period_start"] == "2025-06-02T07:00:00Z"


# (name, file text, options, the error after "<file>: ")
MALFORMED: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "bad number",
        service_report(H7, H8.replace('"1.50"', '"1.234,56"')),
        {},
        'row 10, column "Spend": "1.234,56" is not an amount',
    ),
    (
        "empty figure",
        service_report(H7.replace('"3"', '""')),
        {},
        'row 9, column "Clicks": "" is not a count',
    ),
    (
        "missing column",
        service_report(
            '"F1","2025-06-02|7","41","EUR"',
            header='"AccountNumber","TimePeriod","CampaignId","CurrencyCode"',
        ),
        {},
        "row 8: missing column \"Spend\" "
        "(the header has 'AccountNumber', 'TimePeriod', 'CampaignId', 'CurrencyCode')",
    ),
    (
        "bad time period",
        service_report(H7, H7.replace("2025-06-02", "2025-06-31")),
        {},
        'row 10, column "TimePeriod": "2025-06-31|7" is not a day (YYYY-MM-DD) or an hour '
        "(YYYY-MM-DD|H or M/D/YYYY 12:00:00 AM|H)",
    ),
    (
        "bad date in the service's default hour form",
        service_report(H7.replace("2025-06-02|7", "6/31/2025 12:00:00 AM|7")),
        {},
        'row 9, column "TimePeriod": "6/31/2025 12:00:00 AM|7" is not a day (YYYY-MM-DD) or an '
        "hour (YYYY-MM-DD|H or M/D/YYYY 12:00:00 AM|H)",
    ),
    (
        "hour out of range",
        service_report(GOOD.format(hour=24)),
        {},
        'row 9, column "TimePeriod": "2025-06-02|24" is not a day (YYYY-MM-DD) or an hour '
        "(YYYY-MM-DD|H or M/D/YYYY 12:00:00 AM|H)",
    ),
    (
        "an hour of day across the report's days",
        f"{HEADER}\n" + H7.replace("2025-06-02|7", "7") + "\n",
        {},
        'row 2, column "TimePeriod": "7" is not a day (YYYY-MM-DD) or an hour '
        "(YYYY-MM-DD|H or M/D/YYYY 12:00:00 AM|H): an hour of day, a day of week or a year "
        "spans many days; download the report by day or by hour",
    ),
    (
        "weekly aggregation",
        service_report(H7.replace("2025-06-02|7", "2025-06-01"), aggregation="Weekly"),
        {},
        'row 4: "Report Aggregation: Weekly": a row is not one day or one hour; download the '
        "report with aggregation Daily or Hourly",
    ),
    (
        "a day in an hourly report",
        service_report(H7, H7.replace("2025-06-02|7", "2025-06-03")),
        {},
        'row 10, column "TimePeriod": "2025-06-03" is a day, but the report\'s aggregation '
        "is Hourly",
    ),
    (
        "days and hours mixed without a preamble",
        f"{HEADER}\n" + H7.replace("|7", "") + "\n" + GOOD.format(hour=5) + "\n",
        {},
        'row 3, column "TimePeriod": "2025-06-02|5" is an hour, but row 2 is a day',
    ),
    (
        "cut-off download",
        service_report(H7, H8, count=3),
        {},
        "row 6: the report says 3 rows but has 2: a cut-off download?",
    ),
    (
        "rows after the footer",
        service_report(H7) + H8 + "\n",
        {},
        "row 12: rows follow the report's footer (row 11)",
    ),
    (
        "currency cell contradicts the option",
        service_report(H7.replace('"EUR"', '"USD"')),
        {"currency": "EUR"},
        'row 9, column "CurrencyCode": "USD" contradicts --currency EUR',
    ),
    (
        "hour skipped by the clock",
        service_report(GOOD.format(hour=2).replace("2025-06-02", "2025-03-30")),
        {"timezone": "Europe/Berlin"},
        'row 9, column "TimePeriod": 2025-03-30 02:00 does not exist in Europe/Berlin',
    ),
    (
        "id re-saved by a spreadsheet",
        service_report(H7.replace('"41"', '"4.12346E+08"')),
        {},
        'row 9, column "CampaignId": "4.12346E+08" is not an id (digits only; was the file '
        "re-saved by a spreadsheet?)",
    ),
]  # fmt: skip
IDS = [case[0] for case in MALFORMED]


@pytest.mark.parametrize(("name", "text", "options", "error"), MALFORMED, ids=IDS)
def test_a_malformed_report_is_one_error_naming_row_and_column_and_imports_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    text: str,
    options: dict[str, Any],
    error: str,
) -> None:
    path = tmp_path / "report.csv"
    path.write_text(text)
    loaded = None
    with pytest.raises(SpendFileError) as caught:
        loaded = load(path, "microsoft_ads", **options)
    assert str(caught.value) == f"{path}: {error}"
    assert loaded is None

    produced: list[list[tuple[bytes, bytes]]] = []

    def produce(records: Iterable[tuple[bytes, bytes]], topic: str, settings: Any) -> int:
        produced.append(list(records))
        return len(produced[-1])

    monkeypatch.setattr("funnelwatch.connectors.spend.produce.produce", produce)
    reported_at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    args = ["import", str(path), "--format", "microsoft_ads", "--reported-at", reported_at]
    for option, value in options.items():
        args += [f"--{option}", value]
    result = CliRunner().invoke(spend_group, args)
    assert result.exit_code == 1
    assert result.stderr == f"funnelwatch spend import: error: {path}: {error}\n"
    assert produced == []
