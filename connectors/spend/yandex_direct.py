"""Yandex Direct: a report of the Reports service (API v5, ``Format: TSV``), saved as the
service returns it: UTF-8, tab-separated.

Layout: a first line with the report's name and date range (left out with
``skipReportHeader: true``), the header of the requested ``FieldNames`` (left out with
``skipColumnHeader: true``: this module needs it), the data rows, and a last line
"Total rows: N" (left out with ``skipReportSummary: true``).

Columns (field names as the Reports service writes them; others, such as
``CampaignName`` or ``Conversions``, are ignored):

- required: ``CampaignId``, ``Date`` (YYYY-MM-DD: the rows are days), ``Cost``;
- ``AdGroupId``, ``AdId``: the row is that ad group's or ad's ("--" where not);
- ``Clicks``, ``Impressions``: 0 when the report has no such column;
- ``Currency``, where the report has one: the row's currency (else ``--currency``).

The account is always ``--account``: a report is one advertiser's (the request's
``Client-Login``), and no field of it names the account.

Where the documentation leaves it open, this module decides:

- ``Cost`` is micros (currency units x 1,000,000, the service's default) unless a cost
  cell of the file has a decimal point: then the whole file was requested with
  ``returnMoneyInMicros: false`` and is in currency units. (A file in currency units
  whose every cost is whole would be misread as micros; request micros, the default.)
  The figures are taken as the report states them, with or without VAT (``IncludeVAT``);
- "--", the service's "no value", is 0 in a figure column and "not this level" in an id
  column; an empty cell is an error, as the service never writes one;
- "Total rows: N" must be the last line and N the number of data rows: a count that
  differs means a cut-off download, which is refused;
- there is no hourly report: the Reports service has no hour field (a report by
  ``Week``/``Month`` has no ``Date`` and is refused as a missing column); days are on the
  clock ``--timezone`` names, for most accounts Europe/Moscow.
"""

from __future__ import annotations

import re

from . import cells
from .common import account_of, currency_of, period_of, require, sources, spend_row
from .model import ImportOptions, SpendRow
from .table import Layout, Row, Table

PLATFORM = "yandex_direct"
_CELLS = cells.Cells(zero=("--",))
_TOTAL = re.compile(r"Total rows: (\d+)")
_REQUIRED = {"campaign": ("CampaignId",), "date": ("Date",), "cost": ("Cost",)}
_OPTIONAL = {
    "ad_group": ("AdGroupId",),
    "ad": ("AdId",),
    "clicks": ("Clicks",),
    "impressions": ("Impressions",),
    "currency": ("Currency",),
}
LAYOUT = Layout.of(
    [n for names in (*_REQUIRED.values(), *_OPTIONAL.values()) for n in names]
    + ["CampaignName", "AdGroupName"]
)


def _total(row: Row, first_column: str) -> int | None:
    """N of a "Total rows: N" line, else None."""
    match = _TOTAL.fullmatch(row.text(first_column))
    others = any(v for k, v in row.cells.items() if k != first_column)
    return int(match[1]) if match and not others else None


def parse(table: Table, options: ImportOptions) -> list[SpendRow]:
    c = table.columns(_REQUIRED, _OPTIONAL)
    campaign, date, cost = c["campaign"], c["date"], c["cost"]
    assert campaign is not None and date is not None and cost is not None  # required
    require(table, None, options.account, "--account", "account")
    require(table, c["currency"], options.currency, "--currency", '"Currency"')
    in_units = any("." in row.text(cost) for row in table.rows)
    money = _CELLS.amount if in_units else _CELLS.micros
    origin = sources(
        campaign_id=campaign, ad_group_id=c["ad_group"],
        ad_id=c["ad"], period_start=date, spend_micros=cost, currency=c["currency"],
        clicks=c["clicks"], impressions=c["impressions"],
    )  # fmt: skip
    rows: list[SpendRow] = []
    for position, row in enumerate(table.rows):
        total = _total(row, table.header[0])
        if total is not None:
            if position != len(table.rows) - 1:
                raise row.error('rows follow the report\'s last line ("Total rows")')
            if total != len(rows):
                raise row.error(
                    f"the report says {total} rows but has {len(rows)}: a cut-off download?"
                )
            break
        start, seconds = period_of(row, date, options)
        rows.append(
            spend_row(
                row,
                account_id=account_of(row, None, options),
                campaign=campaign,
                levels=(c["ad_group"], c["ad"]),
                counts=(c["clicks"], c["impressions"]),
                period=(start, seconds),
                spend_micros=row.get(cost, money),
                currency=currency_of(row, c["currency"], options),
                zeros=_CELLS,
                origin=origin,
            )
        )
    return rows
