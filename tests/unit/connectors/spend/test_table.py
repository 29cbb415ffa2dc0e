"""The shared reader: encodings, delimiters, title lines, headers and row numbers."""

from __future__ import annotations

import codecs

import pytest

from funnelwatch.connectors.spend.model import SpendFileError
from funnelwatch.connectors.spend.table import Layout, read_table

LAYOUT = Layout.of(["Campaign ID", "Day", "Cost"])
TEXT = (
    "Report title\r\nJune 2, 2025 - June 2, 2025\r\n"
    "Campaign ID\tDay\tCost\r\n1\t2025-06-02\t3.50\r\n"
)


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode(),
        codecs.BOM_UTF8 + TEXT.encode(),
        TEXT.encode("utf-16"),  # with a BOM, as Google Ads' "CSV for Excel"
        TEXT.encode("utf-16-le"),
        TEXT.encode("utf-16-be"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-bom", "utf-16-le", "utf-16-be"],
)
def test_every_encoding_reads_to_the_same_table(data: bytes) -> None:
    table = read_table(data, "r.csv", LAYOUT)
    assert table.header == ("Campaign ID", "Day", "Cost")
    assert table.header_row == 3
    assert [(r.number, dict(r.cells)) for r in table.rows] == [
        (4, {"Campaign ID": "1", "Day": "2025-06-02", "Cost": "3.50"})
    ]


def test_commas_are_found_as_the_delimiter_and_quoted_cells_keep_theirs() -> None:
    data = b'Campaign ID,Campaign,Day,Cost\n7,"Sale, EU",2025-06-02,"1,234.56"\n'
    (row,) = read_table(data, "r.csv", LAYOUT).rows
    assert row.cells == {
        "Campaign ID": "7", "Campaign": "Sale, EU", "Day": "2025-06-02", "Cost": "1,234.56"
    }  # fmt: skip


def test_row_numbers_are_the_spreadsheet_rows_blank_lines_included() -> None:
    data = b"Campaign ID,Day,Cost\n1,2025-06-02,1\n\n 2 , 2025-06-03 ,2\n"
    rows = read_table(data, "r.csv", LAYOUT).rows
    assert [(r.number, r.text("Campaign ID"), r.text("Day")) for r in rows] == [
        (2, "1", "2025-06-02"),
        (4, "2", "2025-06-03"),
    ]


def test_column_names_match_whatever_their_case_and_spacing() -> None:
    table = read_table(b"campaign  id,DAY,Cost\n1,2025-06-02,1\n", "r.csv", LAYOUT)
    assert table.columns({"c": ("Campaign ID",), "d": ("Day",)}) == {
        "c": "campaign  id", "d": "DAY"
    }  # fmt: skip


def test_missing_columns_are_all_named_at_once_on_the_header_row() -> None:
    table = read_table(b"Title\nCampaign ID,Campaign\n1,x\n", "r.csv", Layout.of(
        ["Campaign ID", "Campaign", "Day", "Cost"]
    ))  # fmt: skip
    with pytest.raises(SpendFileError) as caught:
        table.columns({"c": ("Campaign ID",), "d": ("Day",), "cost": ("Cost", "Spend")})
    assert str(caught.value).startswith('r.csv: row 2: missing columns "Day", "Cost" or "Spend"')


def test_no_header_names_the_file_and_suggests_the_format() -> None:
    with pytest.raises(SpendFileError, match=r"^r\.csv: no header row.*is --format right\?"):
        read_table(b"a,b,c\n1,2,3\n", "r.csv", LAYOUT)


def test_a_row_longer_than_the_header_is_refused() -> None:
    with pytest.raises(SpendFileError, match=r"^r\.csv: row 2: 4 cells, but the header has 3"):
        read_table(b"Campaign ID,Day,Cost\n1,2025-06-02,1,oops\n", "r.csv", LAYOUT)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"Campaign ID,Day,Cost\n\xff\xfe\xfd,1,2\n", "not UTF-8 or UTF-16 text"),
    ],
)
def test_what_is_not_text_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(SpendFileError, match=rf"^r\.csv: {message}"):
        read_table(data, "r.csv", LAYOUT)


def test_the_lines_above_the_header_are_kept_as_the_preamble() -> None:
    # Microsoft Advertising's preamble: nine lines and a blank one above the header
    title = "".join(f'"Line {n}: value, {n}"\n' for n in range(1, 10)) + "\n"
    table = read_table(f"{title}Campaign ID,Day,Cost\n1,2025-06-02,1\n".encode(), "r.csv", LAYOUT)
    assert table.header_row == 11
    assert table.preamble == tuple((n, f"Line {n}: value, {n}") for n in range(1, 10))
    assert [r.number for r in table.rows] == [12]
