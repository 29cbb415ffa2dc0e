"""Google Ads: a report downloaded from the Google Ads web interface (a campaign, ad group
or ad table, or a Report editor report), as "CSV" (UTF-8, commas) or "CSV for Excel"
(UTF-16 LE, tabs).

Layout: two title lines (the report's name, then its date range), the header, the data
rows, then summary rows whose first cell reads "Total: Account", "Total: Campaigns",
"Total: Search" and the like, with "--" in their id cells.

Columns, as the English interface names them (others, such as "Campaign", "Ad group",
"Avg. CPC" or "Conversions", are ignored):

- required: "Campaign ID", "Day" (YYYY-MM-DD), "Cost" (currency units);
- "Hour of day" (0-23): the rows are hours; without it they are days;
- "Ad group ID", "Ad ID": the row is that ad group's or ad's (else the campaign's);
- "Clicks", "Impr." (or "Impressions"): 0 when the report has no such column;
- "Currency code": the row's currency (else ``--currency``);
- "Customer ID": the row's account (as written, e.g. 123-456-7890; else ``--account``).

Where the documentation leaves it open, this module decides:

- "Cost" is in currency units (the API's ``metrics.cost_micros`` is micros; the UI's
  "Cost" is not), thousands grouped by "," as the English UI writes them;
- "--", the UI's "no data", is 0 in a figure column and "not this level" in an id column;
  an empty cell counts the same;
- a totals row is one whose "Campaign ID" is "--" or empty and one of whose cells starts
  with "Total"; any other row without a campaign id is an error;
- the dates and hours are the account's time zone's (``--timezone``), as Google Ads
  reports them.
"""

from __future__ import annotations

from . import cells
from .common import account_of, currency_of, period_of, require, sources, spend_row
from .model import ImportOptions, SpendRow
from .table import Layout, Row, Table

PLATFORM = "google_ads"
_CELLS = cells.Cells(zero=("--", ""))
_REQUIRED = {"campaign": ("Campaign ID",), "day": ("Day",), "cost": ("Cost",)}
_OPTIONAL = {
    "hour": ("Hour of day",),
    "ad_group": ("Ad group ID",),
    "ad": ("Ad ID",),
    "clicks": ("Clicks",),
    "impressions": ("Impr.", "Impressions"),
    "currency": ("Currency code",),
    "account": ("Customer ID",),
}
LAYOUT = Layout.of(
    [n for names in (*_REQUIRED.values(), *_OPTIONAL.values()) for n in names]
    + ["Campaign", "Ad group", "Campaign status"]
)


def _is_total(row: Row, campaign: str) -> bool:
    return row.text(campaign) in _CELLS.zero and any(
        value.casefold().startswith("total") for value in row.cells.values()
    )


def parse(table: Table, options: ImportOptions) -> list[SpendRow]:
    c = table.columns(_REQUIRED, _OPTIONAL)
    campaign, day, cost = c["campaign"], c["day"], c["cost"]
    assert campaign is not None and day is not None and cost is not None  # required
    require(table, c["account"], options.account, "--account", '"Customer ID"')
    require(table, c["currency"], options.currency, "--currency", '"Currency code"')
    origin = sources(
        account_id=c["account"], campaign_id=campaign, ad_group_id=c["ad_group"],
        ad_id=c["ad"], period_start=c["hour"] or day, spend_micros=cost,
        currency=c["currency"], clicks=c["clicks"], impressions=c["impressions"],
    )  # fmt: skip
    rows = []
    for row in table.rows:
        if _is_total(row, campaign):
            continue
        start, seconds = period_of(row, day, options, c["hour"])
        rows.append(
            spend_row(
                row,
                account_id=account_of(row, c["account"], options),
                campaign=campaign,
                levels=(c["ad_group"], c["ad"]),
                counts=(c["clicks"], c["impressions"]),
                period=(start, seconds),
                spend_micros=row.get(cost, _CELLS.amount),
                currency=currency_of(row, c["currency"], options),
                zeros=_CELLS,
                origin=origin,
            )
        )
    return rows
