"""Join state in ClickHouse past its horizon: whole months are dropped.

``click_index`` (clicks by id) and ``waiting_forms`` (forms waiting for their click) are
join state for ``click_horizon_days``, ``lead_facts`` (the events of each lead, read to
rebuild a lead partition) and ``lead_contacts`` (the contact hashes of each lead's forms)
for ``lead_horizon_days``. All four are partitioned by month
of event time, and a month is dropped once its last minute is older than the horizon:
rows are kept for at least the horizon and at most the horizon plus a month. The
results (``funnel_facts``, ``kpi_minute``, ``conversion_rolling``) are never dropped
here. One worker sweeps (the roller's leader); dropping a dropped month again is a no-op.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from funnelwatch.clickhouse import ClickHouse

log = logging.getLogger(__name__)

#: table -> which horizon bounds it
HORIZON_OF = {
    "click_index": "click",
    "waiting_forms": "click",
    "lead_facts": "lead",
    "lead_contacts": "lead",  # a contact links to a lead only while its facts are kept
}


def _month_end(partition: int) -> datetime:
    year, month = divmod(partition, 100)
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def expired_months(client: ClickHouse, table: str, cutoff: datetime) -> list[int]:
    """The month partitions (YYYYMM) of ``table`` that end at or before ``cutoff``."""
    rows = client.execute(
        "SELECT DISTINCT partition FROM system.parts "
        "WHERE database = currentDatabase() AND table = %(table)s AND active",
        {"table": table},
    )
    months = [int(str(r[0]).strip("'")) for r in rows if str(r[0]).strip("'").isdigit()]
    return sorted(m for m in months if _month_end(m) <= cutoff)


def drop_expired(
    client: ClickHouse, click_horizon_days: float, lead_horizon_days: float, now: datetime
) -> dict[str, list[int]]:
    """Drop every month past its table's horizon; returns what was dropped per table."""
    days = {"click": click_horizon_days, "lead": lead_horizon_days}
    dropped: dict[str, list[int]] = {}
    for table, horizon in HORIZON_OF.items():
        months = expired_months(client, table, now - timedelta(days=days[horizon]))
        for month in months:
            # DDL takes no parameters; the month is an integer read from system.parts
            client.execute(f"ALTER TABLE {table} DROP PARTITION {int(month)}")
        if months:
            dropped[table] = months
            log.info("%s: dropped months %s past the %s horizon", table, months, horizon)
    return dropped
