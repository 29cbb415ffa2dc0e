"""A bad file fails whole: one error naming file, row and column, and nothing is produced."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from funnelwatch.cli import spend_group
from funnelwatch.connectors.spend.model import SpendFileError

from .support import load

GOOGLE_TOP = "Campaign report\nJune 1, 2025 - June 1, 2025\n"
GOOGLE_HEADER = "Campaign ID,Ad group ID,Day,Hour of day,Currency code,Cost\n"
GOOD = "111,222,2025-06-01,{hour},EUR,2.00\n"

# (name, format, file text, options, the error after "<file>: ")
CASES: list[tuple[str, str, str, dict[str, Any], str]] = [
    (
        "bad amount", "google_ads",
        GOOGLE_TOP + GOOGLE_HEADER + "".join(GOOD.format(hour=h) for h in (9, 10, 11))
        + "111,222,2025-06-01,12,EUR,\"12,3x\"\n",
        {"account": "1"},
        'row 7, column "Cost": "12,3x" is not an amount',
    ),
    (
        "missing columns", "meta_ads",
        "Campaign name,Day,Impressions\nSale,2025-06-01,10\n",
        {"account": "1"},
        'row 1: missing columns "Campaign ID", "Amount spent (<currency>)" '
        "(the header has 'Campaign name', 'Day', 'Impressions')",
    ),
    (
        "bad date", "yandex_direct",
        '"r (2025-06-01 - 2025-06-30)"\nDate\tCampaignId\tCost\n2025-06-30\t1\t1000000\n'
        "2025-06-31\t1\t1000000\nTotal rows: 2\n",
        {"account": "1", "currency": "RUB"},
        'row 4, column "Date": "2025-06-31" is not a date (YYYY-MM-DD)',
    ),
    (
        "duplicate conflicting row", "google_ads",
        GOOGLE_TOP + GOOGLE_HEADER + GOOD.format(hour=10) + GOOD.format(hour=11)
        + "111,222,2025-06-01,10,EUR,3.00\n",
        {"account": "1"},
        'row 6, column "Cost": 3.00 contradicts row 4 (2.00) for campaign 111, ad group 222, '
        "the hour from 2025-06-01T10:00:00Z",
    ),
    (
        "currency cell contradicts the option", "google_ads",
        GOOGLE_TOP + GOOGLE_HEADER + GOOD.format(hour=1) + "111,222,2025-06-01,2,USD,2.00\n",
        {"account": "1", "currency": "EUR"},
        'row 5, column "Currency code": "USD" contradicts --currency EUR',
    ),
    (
        "currency of the amount column contradicts the option", "meta_ads",
        "Campaign ID,Day,Amount spent (USD)\n11,2025-06-01,1.00\n",
        {"account": "1", "currency": "EUR"},
        'row 1, column "Amount spent (USD)": "USD" contradicts --currency EUR',
    ),
    (
        "currency cell contradicts the amount column", "meta_ads",
        "Campaign ID,Day,Amount spent (USD),Currency\n11,2025-06-01,1.00,USD\n"
        "12,2025-06-01,1.00,EUR\n",
        {"account": "1"},
        'row 3, column "Currency": "EUR" contradicts column "Amount spent (USD)" USD',
    ),
    (
        "hour skipped by the clock", "google_ads",
        GOOGLE_TOP + "Campaign ID,Day,Hour of day,Currency code,Cost\n"
        "111,2025-03-30,2,EUR,1.00\n",
        {"account": "1", "timezone": "Europe/Berlin"},
        'row 4, column "Hour of day": 2025-03-30 02:00 does not exist in Europe/Berlin',
    ),
    (
        "bad id", "meta_ads",
        "Campaign ID,Day,Amount spent (USD)\n1.20215E+17,2025-06-01,1.00\n",
        {"account": "1"},
        'row 2, column "Campaign ID": "1.20215E+17" is not an id (digits only; was the file '
        "re-saved by a spreadsheet?)",
    ),
]  # fmt: skip
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("name", "fmt", "text", "options", "error"), CASES, ids=IDS)
def test_a_bad_file_is_one_error_naming_row_and_column_and_nothing_is_returned(
    tmp_path: Path, name: str, fmt: str, text: str, options: dict[str, Any], error: str
) -> None:
    path = tmp_path / "report.csv"
    path.write_text(text)
    report = None
    with pytest.raises(SpendFileError) as caught:
        report = load(path, fmt, **options)
    assert str(caught.value) == f"{path}: {error}"
    assert report is None


@pytest.mark.parametrize(("name", "fmt", "text", "options", "error"), CASES, ids=IDS)
def test_the_command_exits_non_zero_with_the_error_and_produces_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    fmt: str,
    text: str,
    options: dict[str, Any],
    error: str,
) -> None:
    produced: list[list[tuple[bytes, bytes]]] = []

    def produce(records: Iterable[tuple[bytes, bytes]], topic: str, settings: Any) -> int:
        produced.append(list(records))
        return len(produced[-1])

    monkeypatch.setattr("funnelwatch.connectors.spend.produce.produce", produce)
    path = tmp_path / "report.csv"
    path.write_text(text)
    # a recent report time: the contract refuses events over 30 days old
    reported_at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    args = ["import", str(path), "--format", fmt, "--reported-at", reported_at]
    for option, value in options.items():
        args += [f"--{option}", value]
    result = CliRunner().invoke(spend_group, args)
    assert result.exit_code == 1
    assert result.stderr == f"funnelwatch spend import: error: {path}: {error}\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert produced == []
