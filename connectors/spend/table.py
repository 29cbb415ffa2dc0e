"""Reading a platform's export into a header and rows of named cells: the one reader the
platform parsers share.

Invariants:
- the bytes are decoded once and strictly: by their byte order mark (UTF-8, UTF-16 LE or
  BE; Google Ads' "CSV for Excel" is UTF-16 LE), as BOM-less UTF-16 when the first
  character has a NUL byte beside it, else as UTF-8; anything else fails the file;
- the delimiter is a tab or a comma, whichever makes a header of more known columns
  (ties go to the tab: no platform writes a tab inside a comma-separated cell);
- the header is the first of the first :data:`HEADER_SEARCH_ROWS` rows holding at least
  two column names the format knows, so title lines above it (Google Ads' report name
  and date range, Yandex Direct's report name line, Microsoft Advertising's preamble of
  up to nine lines and a blank one) are never taken for data; the non-blank ones are kept
  as the table's ``preamble`` for the formats that read them;
- a row's number is the row a spreadsheet shows for it: the file's 1-based record number,
  title and blank lines included (it is the file's line number unless a quoted cell
  spans lines);
- cells are stripped of surrounding white space; wholly blank rows are dropped; column
  names match whatever their case and spacing ("Ad Group ID" is "Ad group ID").
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .model import SpendFileError

T = TypeVar("T")

HEADER_SEARCH_ROWS = 20
_DELIMITERS = ("\t", ",")


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class Layout:
    """What the reader needs to know of a format: which names are its columns, and a
    few of them to name in an error when no header is found."""

    is_column: Callable[[str], bool]
    examples: tuple[str, ...]

    @classmethod
    def of(cls, names: Sequence[str], *patterns: re.Pattern[str]) -> Layout:
        known = {_norm(n) for n in names}

        def is_column(name: str) -> bool:
            return _norm(name) in known or any(p.fullmatch(name.strip()) for p in patterns)

        return cls(is_column, tuple(names[:3]))


@dataclass(frozen=True)
class Row:
    """One data row: its spreadsheet row number and its cells by header name."""

    file: str
    number: int
    cells: Mapping[str, str]

    def text(self, column: str | None) -> str:
        """The cell of ``column`` ("" when the file has no such column)."""
        return self.cells.get(column, "") if column is not None else ""

    def get(self, column: str, parse: Callable[[str], T]) -> T:
        """The cell of ``column`` parsed, or the file's error naming this row and column."""
        try:
            return parse(self.text(column))
        except ValueError as exc:  # a CellError, or the ValueError of a period or currency
            raise self.error(str(exc), column) from None

    def optional(self, column: str | None, parse: Callable[[str], T], default: T) -> T:
        """Like :meth:`get`, with ``default`` when the file has no such column."""
        return default if column is None else self.get(column, parse)

    def error(self, message: str, column: str | None = None) -> SpendFileError:
        return SpendFileError(self.file, message, row=self.number, column=column)


@dataclass(frozen=True)
class Table:
    file: str
    header_row: int
    header: tuple[str, ...]
    rows: tuple[Row, ...]
    #: (row number, text) of each non-blank line above the header, its cells joined by
    #: the delimiter: the report's title lines
    preamble: tuple[tuple[int, str], ...] = ()

    def find(self, *names: str) -> str | None:
        """The header's spelling of the first of ``names`` it has, else None."""
        wanted = [_norm(n) for n in names]
        for name in wanted:
            for column in self.header:
                if _norm(column) == name:
                    return column
        return None

    def columns(
        self,
        required: Mapping[str, Sequence[str]],
        optional: Mapping[str, Sequence[str]] | None = None,
    ) -> dict[str, str | None]:
        """The header name of each field (alternatives in order of preference); one error
        naming every required column that is missing."""
        wanted = {**required, **(optional or {})}
        found = {f: self.find(*names) for f, names in wanted.items()}
        missing = [" or ".join(f'"{n}"' for n in names)
                   for f, names in required.items() if found[f] is None]  # fmt: skip
        if missing:
            raise SpendFileError(
                self.file,
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(the header has {', '.join(repr(c) for c in self.header)})",
                row=self.header_row,
            )
        for column in found.values():
            if column is not None and sum(_norm(c) == _norm(column) for c in self.header) > 1:
                raise SpendFileError(
                    self.file, "the column appears twice", row=self.header_row, column=column
                )
        return found


def decode(data: bytes, file: str) -> str:
    """The text of a report file (see the module invariants for the encodings)."""
    if not data.strip():
        raise SpendFileError(file, "the file is empty")
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif len(data) >= 2 and data[0] and not data[1]:
        encoding = "utf-16-le"
    elif len(data) >= 2 and not data[0] and data[1]:
        encoding = "utf-16-be"
    else:
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SpendFileError(
            file, f"not UTF-8 or UTF-16 text ({encoding}: byte {exc.start}: {exc.reason})"
        ) from None
    if "\x00" in text:
        raise SpendFileError(file, "not a text file (it holds NUL characters)")
    return text


def _records(text: str, delimiter: str, file: str) -> list[list[str]]:
    try:
        return [
            [cell.strip() for cell in record]
            for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        ]
    except csv.Error as exc:
        raise SpendFileError(file, f"not a readable CSV/TSV file: {exc}") from None


def _header_at(records: list[list[str]], layout: Layout) -> tuple[int, int] | None:
    """(index, known columns) of the header among the first rows, if any."""
    for index, record in enumerate(records[:HEADER_SEARCH_ROWS]):
        known = sum(1 for cell in record if cell and layout.is_column(cell))
        if known >= 2:
            return index, known
    return None


def read_table(data: bytes, file: str, layout: Layout) -> Table:
    """The header and data rows of a report file, or the file's error."""
    text = decode(data, file)
    best: tuple[int, list[list[str]], int, str] | None = None
    for delimiter in _DELIMITERS:
        records = _records(text, delimiter, file)
        found = _header_at(records, layout)
        if found is not None and (best is None or found[1] > best[2]):
            best = (found[0], records, found[1], delimiter)
    if best is None:
        examples = ", ".join(f'"{c}"' for c in layout.examples)
        raise SpendFileError(
            file,
            f"no header row: none of the first {HEADER_SEARCH_ROWS} rows names the "
            f"columns of this format (such as {examples}); is --format right?",
        )
    index, records, _, delimiter = best
    preamble = tuple(
        (number, delimiter.join(record).strip())
        for number, record in enumerate(records[:index], start=1)
        if any(record)
    )
    header = tuple(records[index])
    first_of: dict[str, int] = {}
    for position, name in enumerate(header):
        first_of.setdefault(name, position)
    rows = []
    for number, record in enumerate(records[index + 1 :], start=index + 2):
        if not any(record):
            continue
        if len(record) > len(header) and any(record[len(header) :]):
            raise SpendFileError(
                file,
                f"{len(record)} cells, but the header has {len(header)} columns",
                row=number,
            )
        padded = record + [""] * (len(header) - len(record))
        rows.append(Row(file, number, {n: padded[p] for n, p in first_of.items()}))
    return Table(file, index + 1, header, tuple(rows), preamble)
