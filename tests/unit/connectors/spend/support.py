"""Helpers of the spend import tests: the samples, a fixed report time, loading a file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import funnelwatch.connectors.spend
from funnelwatch.connectors.spend.importer import SpendImport, load_report
from funnelwatch.connectors.spend.model import ImportOptions, zone_of
from funnelwatch.schemas.events import AdSpend

SAMPLES = Path(funnelwatch.connectors.spend.__file__).parent / "samples"
REPORTED_AT = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
#: "now" of the validation: the report time is an hour old
NOW = REPORTED_AT + timedelta(hours=1)


def load(
    path: Path,
    fmt: str,
    *,
    timezone: str = "UTC",
    account: str | None = None,
    currency: str | None = None,
    reported_at: datetime | None = REPORTED_AT,
) -> SpendImport:
    options = ImportOptions(zone_of(timezone), account, currency)
    return load_report(path, fmt, options, reported_at=reported_at, now=NOW)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def figures(event: AdSpend) -> tuple[object, ...]:
    """What an event reports, in the order the tests write it: campaign, ad group, ad,
    period start (UTC ISO), period seconds, spend micros, currency, clicks, impressions."""
    return (
        event.campaign_id,
        event.ad_group_id,
        event.ad_id,
        event.period_start.isoformat(),
        event.period_seconds,
        event.spend_micros,
        event.currency,
        event.clicks,
        event.impressions,
    )
