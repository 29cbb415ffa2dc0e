"""What a platform parser produces, the options that complete it, and the one error type.

Invariants:
- a :class:`SpendRow` is one reported figure as the file states it, already in contract
  units: ``period_start`` is UTC, money is integer micros; it is not yet validated against
  the contract (that is :mod:`.events`);
- ``sources`` names, for each contract field a row took from the file, the column it came
  from, so that a contract violation is reported on the column a person can fix;
- every error about a file is a :class:`SpendFileError` whose text starts with the file
  name, then the row as a spreadsheet numbers it and the column, where there is one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC_ZONE = ZoneInfo("UTC")
_CURRENCY = re.compile(r"[A-Z]{3}")


class SpendFileError(ValueError):
    """A report file that cannot be imported; nothing of it may be produced."""

    def __init__(
        self, file: str, message: str, *, row: int | None = None, column: str | None = None
    ) -> None:
        where = file
        if row is not None:
            where += f": row {row}"
            if column is not None:
                where += f', column "{column}"'
        elif column is not None:
            where += f': column "{column}"'
        super().__init__(f"{where}: {message}")
        self.file = file
        self.row = row
        self.column = column


@dataclass(frozen=True)
class ImportOptions:
    """What the command line adds to a file: the account's clock, and the account and
    currency for files that do not carry them."""

    timezone: ZoneInfo = UTC_ZONE
    account: str | None = None
    #: ISO 4217, upper case
    currency: str | None = None


@dataclass(frozen=True)
class SpendRow:
    """One data row of a report: one campaign/ad group/ad in one hour or day."""

    row: int
    account_id: str
    campaign_id: str
    ad_group_id: str
    ad_id: str
    period_start: datetime
    period_seconds: int
    spend_micros: int
    currency: str
    clicks: int = 0
    impressions: int = 0
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, datetime, int]:
        """What the row reports on: two rows with one key must agree."""
        return (
            self.campaign_id,
            self.ad_group_id,
            self.ad_id,
            self.period_start,
            self.period_seconds,
        )

    @property
    def figures(self) -> dict[str, object]:
        """What the row reports, by contract field."""
        return {
            "account_id": self.account_id,
            "spend_micros": self.spend_micros,
            "currency": self.currency,
            "clicks": self.clicks,
            "impressions": self.impressions,
        }


def currency_code(text: str) -> str:
    """An ISO 4217 code (the case is forgiven); ValueError otherwise."""
    code = text.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise ValueError(f'"{text}" is not a currency code (ISO 4217, e.g. EUR)')
    return code


def zone_of(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError if there is none of that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None


def report_time_of(text: str) -> datetime:
    """An ISO 8601 time with a zone, in UTC; ValueError otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (e.g. 2025-06-02T08:00:00Z)")
    return moment.astimezone(UTC)
