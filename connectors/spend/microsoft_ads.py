"""Microsoft Advertising (formerly Bing Ads): a performance report (Campaign, Ad group or
Ad performance) downloaded from the Reports page or from the Reporting service as "CSV"
(UTF-8, commas; "TSV" reads the same).

Layout: a preamble of one-cell lines ("Report Name: …", "Report Time: …", "Time Zone: …",
"Last Completed Available Day: …", "Report Aggregation: …", "Potential Incomplete Data:
…", "Rows: N"; left out with ``ExcludeReportHeader``), a blank line, the header, the data
rows, a blank line and the footer "©2026 Microsoft Corporation. All rights reserved."
(left out with ``ExcludeReportFooter``).

Columns, by the Reporting service's column names (``CampaignId``) or the web interface's
labels ("Campaign ID"); others, such as ``CampaignName``, ``Ctr`` or ``Conversions``, are
ignored:

- required: ``CampaignId``; ``TimePeriod`` ("Time period", "Gregorian date"): a day
  (YYYY-MM-DD) or an hour ("YYYY-MM-DD|H", or "M/D/YYYY 12:00:00 AM|H", the service's
  default before ``FormatVersion`` 2.0); ``Spend`` (currency units);
- "Hour of day" (0-23): the rows are hours, and the time period is their day;
- ``AdGroupId``, ``AdId``: the row is that ad group's or ad's (empty: not that level);
- ``Clicks``, ``Impressions``: 0 when the report has no such column;
- ``CurrencyCode``: the row's currency (else ``--currency``);
- ``AccountNumber`` (as the interface shows it, e.g. F1234567), else ``AccountId``: the
  row's account (else ``--account``).

Where the documentation leaves it open, this module decides:

- "Report Aggregation" must be Daily or Hourly: a weekly, monthly or yearly time period
  is written as a date too and would be misread as a day, one by hour of day or day of
  week spans many days, and a Summary report has no time period. Without the preamble
  the cells decide, and every row must be of the kind (day or hour) of the first;
- "Rows: N" must be the number of data rows (a count that differs means a cut-off
  download, which is refused) and the footer the last line;
- a campaign id or a figure is never empty in a report: an empty one is an error;
- the dates and hours are on the clock of the report's time zone, which ``--timezone``
  names, as for the other formats. The help pages say a report uses the account's time
  zone unless another one is chosen for it (the Reporting service's guide says its data
  is relative to UTC: where that holds, the default ``--timezone UTC`` is right). The
  "Time Zone" line is not read: its Windows-style labels carry a standard offset only,
  and some are shared by zones whose offsets now differ ("(GMT+06:00) Almaty,
  Novosibirsk");
- "Potential Incomplete Data: true" is imported as it stands: a later report of the same
  periods replaces it.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from . import cells
from .common import account_of, currency_of, require, sources, spend_row
from .model import ImportOptions, SpendFileError, SpendRow
from .periods import DAY, HOUR, day_start, hour_start
from .table import Layout, Row, Table

PLATFORM = "microsoft_ads"
_CELLS = cells.Cells(zero=())
#: what an ad group or ad id cell holds for a row that is not of that level
_LEVEL = cells.Cells(zero=("",))
_HOURLY = re.compile(r"(\d{4}-\d{2}-\d{2})\|(\d{1,2})")
_HOURLY_V1 = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) 12:00:00 AM\|(\d{1,2})")
_FOOTER = re.compile(
    r"(?:©|@|\(c\))\s*\d{4}\s+Microsoft Corporation\.\s+All rights reserved\.?", re.IGNORECASE
)
_KINDS = {"daily": DAY, "hourly": HOUR}
#: the other aggregations of the Reporting service (ReportAggregation), as the line names them
_NOT_PERIODS = {
    "summary", "weekly", "weeklystartingmonday", "monthly", "yearly", "hourofday", "dayofweek"
}  # fmt: skip
_REQUIRED = {
    "campaign": ("Campaign ID", "CampaignId"),
    "time": ("TimePeriod", "Time period", "Gregorian date", "GregorianDate"),
    "spend": ("Spend",),
}
_OPTIONAL = {
    "hour": ("Hour of day", "HourOfDay"),
    "ad_group": ("Ad group ID", "AdGroupId"),
    "ad": ("Ad ID", "AdId"),
    "clicks": ("Clicks",),
    "impressions": ("Impressions",),
    "currency": ("Currency code", "CurrencyCode"),
    "account": ("Account number", "AccountNumber", "Account ID", "AccountId"),
}
LAYOUT = Layout.of(
    [n for names in (*_REQUIRED.values(), *_OPTIONAL.values()) for n in names]
    + ["Account name", "AccountName", "Campaign name", "CampaignName", "Ad group", "AdGroupName"]
)


def _kind(kind: int) -> str:
    return "an hour" if kind == HOUR else "a day"


def _time_period(text: str) -> tuple[date, int | None]:
    """(day, hour or None) of a time period cell."""
    hourly, v1 = _HOURLY.fullmatch(text), _HOURLY_V1.fullmatch(text)
    try:
        if hourly:
            day, hour = date.fromisoformat(hourly[1]), int(hourly[2])
        elif v1:
            day, hour = date(int(v1[3]), int(v1[1]), int(v1[2])), int(v1[4])
        else:
            return cells.day(text), None
        if hour <= 23:
            return day, hour
    except ValueError:
        pass
    message = (
        f"{cells.quoted(text)} is not a day (YYYY-MM-DD) or an hour "
        "(YYYY-MM-DD|H or M/D/YYYY 12:00:00 AM|H)"
    )
    if text.isdigit():
        message += (
            ": an hour of day, a day of week or a year spans many days; download the "
            "report by day or by hour"
        )
    raise cells.CellError(message)


def _preamble(table: Table) -> dict[str, tuple[int, str]]:
    """Label (lower case, no spaces) -> (row, value) of the "Label: value" lines."""
    lines: dict[str, tuple[int, str]] = {}
    for number, text in table.preamble:
        label, colon, value = text.partition(":")
        if colon:
            lines.setdefault("".join(label.split()).casefold(), (number, value.strip()))
    return lines


def _aggregation(table: Table, preamble: dict[str, tuple[int, str]]) -> tuple[int, str] | None:
    """(kind, how the report says it) of the "Report Aggregation" line, if it names one."""
    if "reportaggregation" not in preamble:
        return None
    number, value = preamble["reportaggregation"]
    name = "".join(value.split()).casefold()
    if name in _NOT_PERIODS:
        raise SpendFileError(
            table.file,
            f'"Report Aggregation: {value}": a row is not one day or one hour; download the '
            "report with aggregation Daily or Hourly",
            row=number,
        )
    return (_KINDS[name], f"the report's aggregation is {value}") if name in _KINDS else None


def _stated_rows(table: Table, preamble: dict[str, tuple[int, str]]) -> tuple[int, int] | None:
    """(row, N) of the "Rows: N" line, if there is one."""
    if "rows" not in preamble:
        return None
    number, value = preamble["rows"]
    try:
        return number, cells.count(value)
    except cells.CellError as exc:
        raise SpendFileError(table.file, f'"Rows: {value}": {exc}', row=number) from None


def _is_footer(row: Row, first_column: str) -> bool:
    others = any(v for k, v in row.cells.items() if k != first_column)
    return not others and _FOOTER.fullmatch(row.text(first_column)) is not None


def _period_start(row: Row, column: str, day: date, hour: int | None, zone: ZoneInfo) -> datetime:
    """UTC start of the row's day, or of its hour (an hour the clock skips: the error of
    ``column``)."""
    if hour is None:
        return day_start(day, zone)
    at = hour
    return row.get(column, lambda _: hour_start(day, at, zone))


def parse(table: Table, options: ImportOptions) -> list[SpendRow]:
    c = table.columns(_REQUIRED, _OPTIONAL)
    campaign, time, spend = c["campaign"], c["time"], c["spend"]
    assert campaign is not None and time is not None and spend is not None  # required
    require(table, c["account"], options.account, "--account", '"AccountNumber" or "AccountId"')
    require(table, c["currency"], options.currency, "--currency", '"CurrencyCode"')
    preamble = _preamble(table)
    # the kind (day or hour) every row must be, and what says so
    expected = _aggregation(table, preamble)
    stated_rows = _stated_rows(table, preamble)
    origin = sources(
        account_id=c["account"], campaign_id=campaign, ad_group_id=c["ad_group"],
        ad_id=c["ad"], period_start=c["hour"] or time, spend_micros=spend,
        currency=c["currency"], clicks=c["clicks"], impressions=c["impressions"],
    )  # fmt: skip
    rows: list[SpendRow] = []
    footer: Row | None = None
    for row in table.rows:
        if footer is not None:
            raise row.error(f"rows follow the report's footer (row {footer.number})")
        if _is_footer(row, table.header[0]):
            footer = row
            continue
        day, hour = row.get(time, _time_period)
        if c["hour"] is not None:
            if hour is not None:
                raise row.error(
                    f"{cells.quoted(row.text(time))} is an hour, and the report has an hour "
                    f'column ("{c["hour"]}"): it must be the day',
                    time,
                )
            hour = row.get(c["hour"], cells.hour)
        kind = DAY if hour is None else HOUR
        if expected is None:
            expected = (kind, f"row {row.number} is {_kind(kind)}")
        elif kind != expected[0]:
            shown = row.text(time) if c["hour"] is None else f"{row.text(time)} {hour}"
            raise row.error(
                f"{cells.quoted(shown)} is {_kind(kind)}, but {expected[1]}", c["hour"] or time
            )
        start = _period_start(row, c["hour"] or time, day, hour, options.timezone)
        rows.append(
            spend_row(
                row,
                account_id=account_of(row, c["account"], options),
                campaign=campaign,
                levels=(c["ad_group"], c["ad"]),
                counts=(c["clicks"], c["impressions"]),
                period=(start, kind),
                spend_micros=row.get(spend, _CELLS.amount),
                currency=currency_of(row, c["currency"], options),
                zeros=_CELLS,
                origin=origin,
                level_zeros=_LEVEL,
            )
        )
    if stated_rows is not None and stated_rows[1] != len(rows):
        number, count = stated_rows
        raise SpendFileError(
            table.file,
            f"the report says {count} rows but has {len(rows)}: a cut-off download?",
            row=number,
        )
    return rows
