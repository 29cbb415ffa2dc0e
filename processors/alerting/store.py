"""ClickHouse reads and writes of the detector service (same SQL on 18.16 and chDB).

Invariants: minutes are read with ``argMax(..., version)`` so a rewritten minute reads
as its latest state; the service's cursor lives in ``sink_progress`` under the name
``detectors`` (its ``watermark`` column is the last minute the detectors judged); an
alert row is written with a fresh version, so the latest state of an alert wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from funnelwatch.clickhouse import ClickHouse

from ..detectors import Alert, Observation
from ..rollup.versions import new_version

CURSOR = "detectors"
SINK = "rolling"

ALERT_COLUMNS = (
    "alert_id",
    "kind",
    "status",
    "campaign_id",
    "metric",
    "from_stage",
    "to_stage",
    "segments",
    "started_at",
    "fired_at",
    "resolved_at",
    "baseline",
    "current",
    "leads_lost",
    "summary",
    "version",
)

_MINUTES = """
SELECT toUInt32(minute) AS m, campaign_id, dim, dim_value,
       sumIf(events, stage = %(from)s) AS trials, sumIf(events, stage = %(to)s) AS successes,
       sumIf(cost, stage = %(from)s) AS cost
FROM
(
    SELECT minute, campaign_id, dim, dim_value, stage,
           argMax(events, version) AS events, argMax(cost_micros, version) AS cost
    FROM kpi_minute
    WHERE minute > toDateTime(%(lo)s) AND minute <= toDateTime(%(hi)s)
      AND stage IN (%(from)s, %(to)s)
    GROUP BY minute, campaign_id, dim, dim_value, stage
)
GROUP BY minute, campaign_id, dim, dim_value
ORDER BY m, campaign_id, dim, dim_value
"""

# Matured cohorts of a deeper transition: the counted facts of both stages, joined
# per lead; a lead of the cohort converted if it reached the next stage within the
# maturity. Cohorts are whole hours of the from-stage time.
_COHORTS = """
SELECT intDiv(intDiv(from_ms, 1000), 3600) * 3600 AS cohort, campaign_id,
       count() AS trials, sum(to_ms > 0 AND to_ms <= from_ms + %(maturity_ms)s) AS successes
FROM
(
    SELECT lead_id, anyIf(campaign_id, stage = %(from)s) AS campaign_id,
           minIf(event_time_ms, stage = %(from)s) AS from_ms,
           minIf(event_time_ms, stage = %(to)s) AS to_ms,
           countIf(stage = %(from)s) AS has_from
    FROM
    (
        SELECT stage, event_id, argMax(lead_id, version) AS lead_id,
               argMax(campaign_id, version) AS campaign_id,
               argMax(event_time_ms, version) AS event_time_ms,
               argMax(counted, version) AS counted
        FROM funnel_facts
        WHERE minute >= toDateTime(%(lo)s) AND minute < toDateTime(%(until)s)
          AND stage IN (%(from)s, %(to)s)
        GROUP BY minute, stage, event_id
    )
    WHERE counted = 1 AND lead_id != ''
    GROUP BY lead_id
)
WHERE has_from > 0 AND from_ms >= %(lo)s * 1000 AND from_ms < %(hi)s * 1000
GROUP BY cohort, campaign_id
ORDER BY cohort, campaign_id
"""


def sink_watermark(client: ClickHouse) -> int:
    rows = client.execute(
        "SELECT argMax(watermark, version) FROM sink_progress WHERE name = %(name)s",
        {"name": SINK},
    )
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def stage_watermarks(client: ClickHouse, since: int, stages: tuple[str, ...]) -> dict[str, int]:
    """The newest minute with events of each stage (looking no further back than since)."""
    rows = client.execute(
        "SELECT stage, toUInt32(max(minute)) FROM kpi_minute "
        "WHERE minute > toDateTime(%(since)s) AND stage IN %(stages)s AND events > 0 "
        "GROUP BY stage",
        {"since": since, "stages": tuple(stages)},
    )
    return {str(stage): int(mark) for stage, mark in rows}


def first_unsettled_minute(client: ClickHouse, lo: int, hi: int, recent: int) -> int | None:
    """The first minute in (lo, hi] that the sink wrote at version ``recent`` or later."""
    rows = client.execute(
        "SELECT toUInt32(min(minute)), count() FROM kpi_minute "
        "WHERE minute > toDateTime(%(lo)s) AND minute <= toDateTime(%(hi)s) "
        "AND version >= %(recent)s",
        {"lo": lo, "hi": hi, "recent": recent},
    )
    return int(rows[0][0]) if rows and int(rows[0][1]) else None


def load_cursor(client: ClickHouse) -> int:
    rows = client.execute(
        "SELECT argMax(watermark, version), count() FROM sink_progress WHERE name = %(name)s",
        {"name": CURSOR},
    )
    return int(rows[0][0]) if rows and int(rows[0][1]) else 0


def save_cursor(client: ClickHouse, minute: int) -> None:
    client.insert(
        "sink_progress",
        ("name", "watermark", "rolled_until", "dirty_from", "version"),
        [(CURSOR, minute, 0, 0, new_version())],
    )


def first_minute(client: ClickHouse) -> int:
    rows = client.execute("SELECT toUInt32(min(minute)), count() FROM kpi_minute")
    return int(rows[0][0]) if rows and int(rows[0][1]) else 0


def read_minutes(
    client: ClickHouse, lo: int, hi: int, from_stage: str, to_stage: str
) -> Iterator[Observation]:
    """Observations of the minutes in (lo, hi], in minute order."""
    rows = client.execute(_MINUTES, {"lo": lo, "hi": hi, "from": from_stage, "to": to_stage})
    for m, campaign, dim, value, trials, successes, cost in rows:
        yield Observation(
            int(m),
            str(campaign),
            str(dim),
            str(value),
            from_stage,
            to_stage,
            int(trials),
            int(successes),
            int(cost),
        )


def read_cohorts(
    client: ClickHouse, lo: int, hi: int, from_stage: str, to_stage: str, maturity: int
) -> Iterator[Observation]:
    """Campaign observations of the hourly cohorts entering ``from_stage`` in [lo, hi),
    each judged by who reached ``to_stage`` within ``maturity`` seconds."""
    rows = client.execute(
        _COHORTS,
        {
            "lo": lo,
            "hi": hi,
            "until": hi + maturity + 3600,
            "from": from_stage,
            "to": to_stage,
            "maturity_ms": maturity * 1000,
        },
    )
    for cohort, campaign, trials, successes in rows:
        yield Observation(
            int(cohort),
            str(campaign),
            "all",
            "all",
            from_stage,
            to_stage,
            int(trials),
            int(successes),
        )


def alert_row(alert: Alert, version: int) -> tuple[Any, ...]:
    return (
        alert.alert_id,
        alert.kind,
        alert.status,
        alert.campaign_id,
        alert.metric,
        alert.from_stage,
        alert.to_stage,
        alert.segments_json(),
        alert.started_at,
        alert.fired_at,
        alert.resolved_at,
        float(alert.baseline),
        float(alert.current),
        float(alert.leads_lost),
        alert.summary,
        version,
    )


def write_alerts(client: ClickHouse, alerts: list[Alert]) -> None:
    if alerts:
        version = new_version()
        client.insert("alerts", ALERT_COLUMNS, [alert_row(a, version) for a in alerts])


_ALERT_COLUMNS = (
    "alert_id, kind, status, campaign_id, metric, from_stage, to_stage, segments, "
    "toUInt32(started_at), toUInt32(fired_at), toUInt32(resolved_at), baseline, current, "
    "leads_lost, summary"
)


def _alert(r: Sequence[Any]) -> Alert:
    return Alert(
        str(r[0]),
        str(r[1]),
        str(r[2]),
        str(r[3]),
        str(r[4]),
        str(r[5]),
        str(r[6]),
        tuple(json.loads(r[7])),
        int(r[8]),
        int(r[9]),
        int(r[10]),
        float(r[11]),
        float(r[12]),
        float(r[13]),
        str(r[14]),
    )


def open_alerts(client: ClickHouse) -> list[Alert]:
    """Alerts whose latest state is firing."""
    rows = client.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts FINAL WHERE status = %(status)s",
        {"status": "firing"},
    )
    return [_alert(r) for r in rows]


def delivered(client: ClickHouse) -> set[tuple[str, str, str]]:
    rows = client.execute("SELECT DISTINCT alert_id, status, target FROM alert_deliveries")
    return {(str(a), str(s), str(t)) for a, s, t in rows}


def record_delivery(client: ClickHouse, alert_id: str, status: str, target: str, at: int) -> None:
    client.insert(
        "alert_deliveries",
        ("alert_id", "status", "target", "delivered_at", "version"),
        [(alert_id, status, target, at, new_version())],
    )


def recent_alerts(client: ClickHouse, since: int) -> list[Alert]:
    """The latest state of every alert fired since ``since`` (the delivery outbox)."""
    rows = client.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts FINAL WHERE fired_at >= toDateTime(%(since)s) "
        "ORDER BY fired_at",
        {"since": since},
    )
    return [_alert(r) for r in rows]
