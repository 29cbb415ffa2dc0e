"""CRM records whose stage the mapping does not know, kept in ClickHouse (``crm_unmapped``)
until a mapping names it.

Invariants: a row holds the record's normalised form (:meth:`~.model.CrmRecord.normalised`:
contact hashes, never a raw e-mail or phone), enough to produce its crm_event once the
stage is mapped; the same record delivered again writes the same key
(provider, pipeline, stage, event_id), so counts are of distinct records
(``uniqExact(event_id)``) whether or not ClickHouse has merged the duplicates yet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from funnelwatch.clickhouse import ClickHouse

from .model import CrmRecord

TABLE = "crm_unmapped"
COLUMNS = (
    "provider",
    "pipeline",
    "stage",
    "event_id",
    "object_id",
    "event_time",
    "received_at",
    "record",
)


def unmapped_row(
    record: CrmRecord, contact_hashes: tuple[str, ...], received_at: datetime
) -> tuple[Any, ...]:
    return (
        record.provider,
        record.pipeline,
        record.stage,
        record.event_id,
        record.object_id,
        record.event_time.astimezone(UTC).replace(microsecond=0),
        received_at.astimezone(UTC).replace(microsecond=0),
        json.dumps(record.normalised(contact_hashes), sort_keys=True, ensure_ascii=False),
    )


def insert_unmapped(client: ClickHouse, rows: Sequence[Sequence[Any]]) -> None:
    client.insert(TABLE, COLUMNS, rows)


@dataclass(frozen=True)
class UnmappedStage:
    provider: str
    pipeline: str
    stage: str
    records: int
    first_seen: datetime
    last_seen: datetime


def list_unmapped(client: ClickHouse, provider: str | None = None) -> list[UnmappedStage]:
    """Every unmapped (provider, pipeline, stage) with its count of distinct records."""
    where = "WHERE provider = %(provider)s" if provider else ""
    rows = client.execute(
        "SELECT provider, pipeline, stage, uniqExact(event_id), "
        "toUInt32(min(received_at)), toUInt32(max(received_at)) "
        f"FROM {TABLE} {where} GROUP BY provider, pipeline, stage "
        "ORDER BY provider, pipeline, stage",
        {"provider": provider} if provider else None,
    )
    return [
        UnmappedStage(
            str(p),
            str(pl),
            str(s),
            int(n),
            datetime.fromtimestamp(int(first), UTC),
            datetime.fromtimestamp(int(last), UTC),
        )
        for p, pl, s, n, first, last in rows
    ]


def unmapped_records(client: ClickHouse, provider: str | None = None) -> list[dict[str, Any]]:
    """The normalised records held, one per event id (for replay once mapped)."""
    where = "WHERE provider = %(provider)s" if provider else ""
    rows = client.execute(
        f"SELECT event_id, any(record) FROM {TABLE} {where} GROUP BY event_id ORDER BY event_id",
        {"provider": provider} if provider else None,
    )
    return [json.loads(record) for _, record in rows]
