"""Meta Ads: a report exported from Ads Manager (Export table data / Reports, "CSV"),
UTF-8 with a byte order mark, commas.

Layout: the header, then the data rows; with "Include summary row" the first data row is
the totals of the whole table, its dimension cells empty.

Columns, as the English Ads Manager names them (others, such as "Campaign name", "Reach"
or "Results", are ignored):

- required: "Campaign ID"; "Amount spent (USD)" — the currency in the name — or
  "Amount spent" with a "Currency" column or ``--currency``; "Day" (Breakdown > By time >
  Day), or "Reporting starts" and "Reporting ends" naming one and the same day;
- "Time of day (ad account time zone)" ("00:00:00 - 00:59:59"): the rows are hours;
- "Ad set ID", "Ad ID": the row is that ad set's (the ad group) or ad's;
- "Impressions"; "Link clicks", else "Clicks (all)": 0 when the report has no such column;
- "Currency": the row's currency; "Account ID": its account (else ``--account``).

Where the documentation leaves it open, this module decides:

- clicks are "Link clicks" when the report has them (what Meta's CPC is computed from),
  else "Clicks (all)";
- Ads Manager leaves a figure empty where there is none: an empty figure is 0;
- the summary row is recognised only as the first data row with an empty "Campaign ID";
  an empty campaign id anywhere else is an error;
- a row spanning several days (no daily breakdown) is refused: the contract knows only
  hours and days;
- "Time of day (viewer's time zone)" is refused: the viewers' hours cannot be placed on
  the account's clock, so the export must use the ad account's time zone;
- "Amount spent (USD)" states the file's currency: a "Currency" cell or ``--currency``
  that says otherwise is an error.
"""

from __future__ import annotations

import re
from dataclasses import replace

from . import cells
from .common import account_of, currency_of, period_of, require, sources, spend_row
from .model import ImportOptions, SpendFileError, SpendRow
from .table import Layout, Table

PLATFORM = "meta_ads"
_CELLS = cells.Cells(zero=("",))
_AMOUNT = re.compile(r"Amount spent \(([A-Za-z]{3})\)")
_HOUR_RANGE = re.compile(r"(\d{2}):00:00 - (\d{2}):59:59")
_DAY, _STARTS = "Day", "Reporting starts"
_VIEWER_HOURS = "Time of day (viewer's time zone)"
_REQUIRED = {"campaign": ("Campaign ID",), "day": (_DAY, _STARTS)}
_OPTIONAL = {
    "amount": ("Amount spent",),
    "ends": ("Reporting ends",),
    "hour": ("Time of day (ad account time zone)",),
    "viewer_hour": (_VIEWER_HOURS,),
    "ad_set": ("Ad set ID",),
    "ad": ("Ad ID",),
    "impressions": ("Impressions",),
    "clicks": ("Link clicks", "Clicks (all)"),
    "currency": ("Currency",),
    "account": ("Account ID",),
}
LAYOUT = Layout.of(
    [n for names in (*_REQUIRED.values(), *_OPTIONAL.values()) for n in names]
    + ["Campaign name", "Ad set name", "Ad name", "Account name"],
    _AMOUNT,
)


def _hour(text: str) -> int:
    match = _HOUR_RANGE.fullmatch(text)
    if match is None or match[1] != match[2] or int(match[1]) > 23:
        raise cells.CellError(f'{cells.quoted(text)} is not an hour ("00:00:00 - 00:59:59")')
    return int(match[1])


def parse(table: Table, options: ImportOptions) -> list[SpendRow]:
    # (column, its currency) of the "Amount spent (XXX)" columns
    named = [(col, m[1].upper()) for col in table.header if (m := _AMOUNT.fullmatch(col))]
    if len(named) > 1:
        columns = ", ".join(col for col, _ in named)
        raise SpendFileError(
            table.file, f"several amount columns ({columns}): export one currency",
            row=table.header_row,
        )  # fmt: skip
    # an "Amount spent (XXX)" column, else a plain one; missing both is a missing column
    required = _REQUIRED if named or table.find("Amount spent") else {
        **_REQUIRED, "amount": ("Amount spent (<currency>)",)
    }  # fmt: skip
    c = table.columns(required, _OPTIONAL)
    campaign, day, amount = c["campaign"], c["day"], named[0][0] if named else c["amount"]
    assert campaign is not None and day is not None and amount is not None  # required
    if c["hour"] is None and c["viewer_hour"] is not None:
        raise SpendFileError(
            table.file,
            "hours in the viewers' time zones cannot be placed on the account's clock: "
            'export "Time of day (ad account time zone)" instead',
            row=table.header_row, column=c["viewer_hour"],
        )  # fmt: skip
    source = "--currency"
    if named:
        in_header = named[0][1]
        if options.currency is not None and in_header != options.currency:
            raise SpendFileError(
                table.file, f'"{in_header}" contradicts --currency {options.currency}',
                row=table.header_row, column=amount,
            )  # fmt: skip
        options, source = replace(options, currency=in_header), f'column "{amount}"'
    require(table, c["account"], options.account, "--account", '"Account ID"')
    require(
        table, c["currency"], options.currency, "--currency", '"Currency" or "Amount spent (XXX)"'
    )
    origin = sources(
        account_id=c["account"], campaign_id=campaign, ad_group_id=c["ad_set"], ad_id=c["ad"],
        period_start=c["hour"] or day, spend_micros=amount, currency=c["currency"] or amount,
        clicks=c["clicks"], impressions=c["impressions"],
    )  # fmt: skip
    # without a "Day" column each row's day is its reporting range, which must be one day
    ranged = table.find(_DAY) is None
    rows = []
    for position, row in enumerate(table.rows):
        if position == 0 and not row.text(campaign):
            continue  # the summary row
        if ranged and c["ends"] and row.text(c["ends"]) != row.text(day):
            raise row.error(
                f"the row covers {row.text(day)} to {row.text(c['ends'])}: export with "
                "Breakdown > By time > Day",
                c["ends"],
            )
        start, seconds = period_of(row, day, options, c["hour"], _hour)
        rows.append(
            spend_row(
                row,
                account_id=account_of(row, c["account"], options),
                campaign=campaign,
                levels=(c["ad_set"], c["ad"]),
                counts=(c["clicks"], c["impressions"]),
                period=(start, seconds),
                spend_micros=row.get(amount, _CELLS.amount),
                currency=currency_of(row, c["currency"], options, source),
                zeros=_CELLS,
                origin=origin,
            )
        )
    return rows
