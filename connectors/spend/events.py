"""Parsed rows -> ad_spend events, every one validated against the contract.

Invariants:
- every event has passed :func:`~funnelwatch.schemas.contracts.validate_mapping`, the
  validation the pipeline applies to what it reads: what is produced is accepted;
- ``event_id`` is a SHA-256 of platform, account, campaign, ad group, ad, period start,
  period length and report time: importing the same file with the same report time
  again gives the same events (duplicates the pipeline drops), and a later report of
  the same figures is a new event that replaces the earlier (the contract's rule);
- two rows about the same campaign, ad group, ad and period must report the same
  figures: the same row twice is produced once, different figures fail the file;
- a contract violation is reported on the column the field came from (the row's
  ``sources``); one of the report time, which no column holds, on the report time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from funnelwatch.schemas.contracts import InvalidEvent, Limits, validate_mapping
from funnelwatch.schemas.events import SCHEMA_VERSION, AdSpend

from .cells import units
from .model import SpendFileError, SpendRow
from .periods import HOUR


def iso(moment: datetime) -> str:
    """The wire form of a time: ISO 8601 in UTC with a trailing Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_id(platform: str, row: SpendRow, reported_at: datetime) -> str:
    identity = [
        platform, row.account_id, row.campaign_id, row.ad_group_id, row.ad_id,
        iso(row.period_start), row.period_seconds, iso(reported_at),
    ]  # fmt: skip
    # JSON keeps the parts apart: no id's text can pass for two others joined
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()


def wire_form(platform: str, row: SpendRow, reported_at: datetime) -> dict[str, Any]:
    """The row as the contract's JSON object (what validate_mapping judges)."""
    return {
        "event_type": AdSpend.event_type,
        "event_id": event_id(platform, row, reported_at),
        "event_time": iso(reported_at),
        "schema_version": SCHEMA_VERSION,
        "platform": platform,
        "account_id": row.account_id,
        "campaign_id": row.campaign_id,
        "period_start": iso(row.period_start),
        "period_seconds": row.period_seconds,
        "spend_micros": row.spend_micros,
        "currency": row.currency,
        "ad_group_id": row.ad_group_id,
        "ad_id": row.ad_id,
        "clicks": row.clicks,
        "impressions": row.impressions,
    }


def _field_of(problem: str) -> str | None:
    """The contract field a problem of validate_mapping is about, if it names one."""
    category, _, rest = problem.partition(": ")
    if category == "schema":
        return rest.partition(": ")[0].split("/")[0]
    if "period_start" in rest:
        return "period_start"
    if category in ("future_event_time", "ancient_event_time"):
        return "event_time"
    return None


def _invalid(file: str, row: SpendRow, exc: InvalidEvent, reported_at: datetime) -> SpendFileError:
    problem = exc.problems[0]
    field = _field_of(problem)
    if field == "event_time":
        return SpendFileError(
            file, f"the report time {iso(reported_at)} is refused by the contract: {problem}"
        )
    column = row.sources.get(field) if field else None
    return SpendFileError(file, problem, row=row.row, column=column)


def _shown(field: str, value: object) -> str:
    return units(value) if field == "spend_micros" and isinstance(value, int) else str(value)


def _conflict(file: str, row: SpendRow, earlier: SpendRow) -> SpendFileError:
    now, before = row.figures, earlier.figures
    field = next(f for f in now if now[f] != before[f])
    kind = "hour" if row.period_seconds == HOUR else "day"
    where = f"campaign {row.campaign_id}"
    where += f", ad group {row.ad_group_id}" if row.ad_group_id else ""
    where += f", ad {row.ad_id}" if row.ad_id else ""
    return SpendFileError(
        file,
        f"{_shown(field, now[field])} contradicts row {earlier.row} "
        f"({_shown(field, before[field])}) "
        f"for {where}, the {kind} from {iso(row.period_start)}",
        row=row.row,
        column=row.sources.get(field),
    )


def to_events(
    rows: Sequence[SpendRow],
    *,
    platform: str,
    file: str,
    reported_at: datetime,
    limits: Limits,
    now: datetime | None = None,
) -> list[AdSpend]:
    """One validated event per distinct row, in file order; the file's error otherwise."""
    seen: dict[tuple[str, str, str, datetime, int], SpendRow] = {}
    events = []
    for row in rows:
        earlier = seen.get(row.key)
        if earlier is not None:
            if earlier.figures != row.figures:
                raise _conflict(file, row, earlier)
            continue
        seen[row.key] = row
        try:
            event = validate_mapping(wire_form(platform, row, reported_at), limits, now)
        except InvalidEvent as exc:
            raise _invalid(file, row, exc, reported_at) from None
        assert isinstance(event, AdSpend)  # the wire form's event_type says so
        events.append(event)
    return events
