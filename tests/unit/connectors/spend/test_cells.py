"""Cell values: amounts become exact micros, nothing ambiguous is guessed."""

from __future__ import annotations

from datetime import date

import pytest

from funnelwatch.connectors.spend import cells
from funnelwatch.schemas.contracts import MAX_SPEND_MICROS


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("0", 0),
        ("0.00", 0),
        ("12.3", 12_300_000),
        ("1,234.56", 1_234_560_000),
        ("1,234,567.891234", 1_234_567_891_234),
        ("0.000001", 1),
        # a float would make this 0.30000000000000004 units
        ("0.3", 300_000),
        ("100000000", 100_000_000_000_000),
    ],
)
def test_amounts_in_currency_units_become_exact_micros(text: str, micros: int) -> None:
    assert cells.amount_micros(text) == micros


@pytest.mark.parametrize("text", ["12,3x", "12,3", "1,23.45", "-5.00", "$12.00", "1e3", "", "--"])
def test_what_is_not_plainly_an_amount_is_refused_quoting_the_cell(text: str) -> None:
    with pytest.raises(cells.CellError) as caught:
        cells.amount_micros(text)
    assert str(caught.value) == f'"{text}" is not an amount'


def test_an_amount_finer_than_a_micro_is_refused_not_rounded() -> None:
    with pytest.raises(cells.CellError, match="more than 6 decimal places"):
        cells.amount_micros("1.0000001")


def test_an_amount_over_the_contract_bound_is_refused() -> None:
    assert cells.micros(str(MAX_SPEND_MICROS)) == MAX_SPEND_MICROS
    with pytest.raises(cells.CellError, match="more than one report may hold"):
        cells.amount_micros("1,000,000,001")
    with pytest.raises(cells.CellError, match="more than one report may hold"):
        cells.micros(str(MAX_SPEND_MICROS + 1))


def test_zero_markers_count_only_where_the_platform_writes_them() -> None:
    google = cells.Cells(zero=("--", ""))
    yandex = cells.Cells(zero=("--",))
    assert google.amount("--") == google.count("") == 0
    assert google.identifier("--") == yandex.identifier("--") == ""
    with pytest.raises(cells.CellError):
        yandex.count("")


def test_micros_are_whole_digits() -> None:
    assert cells.micros("5432100000") == 5_432_100_000
    with pytest.raises(cells.CellError, match=r'"54\.32" is not an amount in micros'):
        cells.micros("54.32")


def test_counts_may_be_grouped_but_are_whole() -> None:
    assert cells.count("12,418") == 12_418
    with pytest.raises(cells.CellError, match="not a whole number"):
        cells.count("12.0")


def test_ids_are_digits_so_a_spreadsheet_mangled_id_is_refused() -> None:
    assert cells.identifier("120214587330560123") == "120214587330560123"
    with pytest.raises(cells.CellError, match="re-saved by a spreadsheet"):
        cells.identifier("1.20215E+17")


def test_dates_are_iso_days_and_hours_0_to_23() -> None:
    assert cells.day("2025-06-02") == date(2025, 6, 2)
    for bad in ("2025-02-30", "02.06.2025", "20250602"):
        with pytest.raises(cells.CellError, match="is not a date"):
            cells.day(bad)
    assert cells.hour("23") == 23
    with pytest.raises(cells.CellError, match="not an hour"):
        cells.hour("24")


def test_a_currency_must_agree_with_the_stated_one() -> None:
    assert cells.agreeing_currency("eur", "EUR") == "EUR"
    with pytest.raises(cells.CellError, match='"USD" contradicts --currency EUR'):
        cells.agreeing_currency("USD", "EUR")
    with pytest.raises(ValueError, match="not a currency code"):
        cells.agreeing_currency("EURO", None)


def test_micros_are_shown_as_exact_units() -> None:
    assert cells.units(1_234_560_000) == "1,234.56"
    assert cells.units(27_495_383_333) == "27,495.383333"
    assert cells.units(0) == "0.00"
