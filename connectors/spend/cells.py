"""Parsing one cell of a report: amounts, counts, ids, dates, hours, currencies.

Invariants:
- money never passes through a float: an amount is read as a :class:`~decimal.Decimal`
  and becomes integer micros only when that is exact (at most 6 decimal places);
- a number is plain digits with an optional ``.`` and decimals, or grouped by commas in
  threes ("1,234.56"): the platforms' English exports write nothing else, and a comma
  anywhere else ("12,3") is ambiguous (a decimal comma?), so it is refused, not guessed;
- each parser gets the cell text already stripped and returns the value or raises
  :class:`CellError` with a message that quotes the cell; the caller adds file, row and
  column (see :meth:`.table.Row.get`);
- ``zero`` markers ("--", "") are what a platform writes for "nothing"; each platform
  module passes its own, so a marker one platform never writes stays an error there.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from funnelwatch.schemas.contracts import MAX_SPEND_MICROS

from .model import currency_code

MICROS = 1_000_000
_NUMBER = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_DIGITS = re.compile(r"\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: longest cell text quoted in an error
_QUOTE_AT_MOST = 60


class CellError(ValueError):
    """A cell whose text is not what its column holds."""


def quoted(text: str) -> str:
    shown = text if len(text) <= _QUOTE_AT_MOST else text[: _QUOTE_AT_MOST - 1] + "…"
    return f'"{shown}"'


def _decimal(text: str, what: str) -> Decimal:
    # the length bound keeps a pasted megabyte of digits from becoming a giant Decimal
    if len(text) > 40 or not _NUMBER.fullmatch(text):
        raise CellError(f"{quoted(text)} is not {what}")
    return Decimal(text.replace(",", ""))


def _bounded(micros: int, text: str) -> int:
    if micros > MAX_SPEND_MICROS:
        raise CellError(
            f"{quoted(text)} is more than one report may hold "
            f"({MAX_SPEND_MICROS // MICROS:,} currency units)"
        )
    return micros


def amount_micros(text: str, zero: Collection[str] = ()) -> int:
    """Micros of an amount written in currency units ("1,234.56" -> 1_234_560_000)."""
    if text in zero:
        return 0
    micros = _decimal(text, "an amount") * MICROS
    if micros != micros.to_integral_value():
        raise CellError(f"{quoted(text)} has more than 6 decimal places")
    return _bounded(int(micros), text)


def units(value: int) -> str:
    """Micros as currency units, exactly, grouped, with at least two decimals."""
    whole, _, fraction = f"{Decimal(value).scaleb(-6):,.6f}".rstrip("0").partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def micros(text: str, zero: Collection[str] = ()) -> int:
    """An amount already written in micros (whole digits only)."""
    if text in zero:
        return 0
    if len(text) > 40 or not _DIGITS.fullmatch(text):
        raise CellError(f"{quoted(text)} is not an amount in micros")
    return _bounded(int(text), text)


def count(text: str, zero: Collection[str] = ()) -> int:
    """A non-negative whole number, possibly grouped ("12,418")."""
    if text in zero:
        return 0
    value = _decimal(text, "a count")
    if value != value.to_integral_value() or "." in text:
        raise CellError(f"{quoted(text)} is not a whole number")
    return int(value)


def identifier(text: str, zero: Collection[str] = ()) -> str:
    """A platform's numeric id ("" for the zero markers: the row is not that specific).

    Digits only: the platforms' ids are decimal numbers, and a file that went
    through a spreadsheet may hold "1.20208E+17" in their place, which must not become a
    different campaign."""
    if text in zero:
        return ""
    if not _DIGITS.fullmatch(text):
        raise CellError(
            f"{quoted(text)} is not an id (digits only; was the file re-saved by a spreadsheet?)"
        )
    return text


def day(text: str) -> date:
    """A calendar date as YYYY-MM-DD, the form the exports use for a day."""
    if not _DATE.fullmatch(text):
        raise CellError(f"{quoted(text)} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CellError(f"{quoted(text)} is not a date (YYYY-MM-DD)") from None


def hour(text: str) -> int:
    """An hour of the day, 0 to 23."""
    if not _DIGITS.fullmatch(text) or int(text) > 23:
        raise CellError(f"{quoted(text)} is not an hour of the day (0-23)")
    return int(text)


def agreeing_currency(from_file: str, expected: str | None, source: str = "--currency") -> str:
    """The file's currency, which must be ``expected`` (stated by ``source``), if given."""
    code = currency_code(from_file)
    if expected is not None and code != expected:
        raise CellError(f"{quoted(from_file)} contradicts {source} {expected}")
    return code


@dataclass(frozen=True)
class Cells:
    """The cell parsers of one platform, bound to what it writes for "nothing"."""

    zero: tuple[str, ...]

    def amount(self, text: str) -> int:
        return amount_micros(text, self.zero)

    def micros(self, text: str) -> int:
        return micros(text, self.zero)

    def count(self, text: str) -> int:
        return count(text, self.zero)

    def identifier(self, text: str) -> str:
        return identifier(text, self.zero)
