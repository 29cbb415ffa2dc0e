"""What the platform parsers share beyond reading the file: the account and currency of
a row (from the file, else the command line) and its period.

Invariants:
- an account column of the file wins over ``--account``, which only fills in for files
  (or cells) without one;
- a currency the file states must equal ``--currency`` when both are given; a file
  without one needs ``--currency``; either way a file whose currency is unknown fails
  as a whole, before its rows are read;
- a row's period is its day on the account's clock, or one hour of that day when the
  format has an hour column (see :mod:`.periods`);
- a campaign id is never a zero marker; an ad group, ad, clicks or impressions cell may
  be (the row is not that specific, or counted nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from . import cells
from .model import ImportOptions, SpendFileError, SpendRow
from .periods import DAY, HOUR, day_start, hour_start
from .table import Row, Table


def require(table: Table, column: str | None, option: str | None, flag: str, expected: str) -> None:
    """Fail the file when neither its ``expected`` column nor the option ``flag`` is there."""
    if column is None and option is None:
        raise SpendFileError(table.file, f"the file has no {expected} column: pass {flag}")


def account_of(row: Row, column: str | None, options: ImportOptions) -> str:
    value = row.text(column) or options.account
    if not value:
        raise row.error("no account id in this row: pass --account", column)
    return value


def currency_of(
    row: Row, column: str | None, options: ImportOptions, source: str = "--currency"
) -> str:
    """The row's currency: its cell, which must agree with ``options.currency`` (stated by
    ``source``), else that."""
    if column is not None and row.text(column):
        return row.get(column, lambda text: cells.agreeing_currency(text, options.currency, source))
    if options.currency is None:
        raise row.error("no currency in this row: pass --currency", column)
    return options.currency


def period_of(
    row: Row,
    day_column: str,
    options: ImportOptions,
    hour_column: str | None = None,
    hour: Callable[[str], int] = cells.hour,
) -> tuple[datetime, int]:
    """(UTC start, seconds) of the row's day, or of its hour when there is an hour column."""
    day = row.get(day_column, cells.day)
    if hour_column is None:
        return day_start(day, options.timezone), DAY
    start = row.get(hour_column, lambda text: hour_start(day, hour(text), options.timezone))
    return start, HOUR


def sources(**columns: str | None) -> dict[str, str]:
    """Contract field -> the column it came from, for the columns the file has."""
    return {name: column for name, column in columns.items() if column is not None}


def spend_row(
    row: Row,
    *,
    account_id: str,
    campaign: str,
    levels: tuple[str | None, str | None],
    counts: tuple[str | None, str | None],
    period: tuple[datetime, int],
    spend_micros: int,
    currency: str,
    zeros: cells.Cells,
    origin: dict[str, str],
    level_zeros: cells.Cells | None = None,
) -> SpendRow:
    """One report row as a :class:`SpendRow`: ``levels`` are the ad group and ad columns,
    ``counts`` the clicks and impressions columns (parsed with ``zeros``, the levels with
    ``level_zeros`` when the platform writes "nothing" apart for them)."""
    ad_group, ad = levels
    clicks, impressions = counts
    level = level_zeros or zeros
    return SpendRow(
        row=row.number,
        account_id=account_id,
        campaign_id=row.get(campaign, cells.identifier),
        ad_group_id=row.optional(ad_group, level.identifier, ""),
        ad_id=row.optional(ad, level.identifier, ""),
        period_start=period[0],
        period_seconds=period[1],
        spend_micros=spend_micros,
        currency=currency,
        clicks=row.optional(clicks, zeros.count, 0),
        impressions=row.optional(impressions, zeros.count, 0),
        sources=origin,
    )
