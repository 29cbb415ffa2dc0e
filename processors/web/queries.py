"""Read-side queries of the KPI API and the board: one function per query, plain data out.

Invariants:
- every table read is a ReplacingMergeTree rewritten by the sink or the detectors, so
  each row is taken at its newest version with ``argMax(..., version)`` per sorting key;
- values travel as ``%(name)s`` parameters, escaped by the driver, never pasted;
- the SQL runs on ClickHouse 18.16 and on chDB alike (no window functions, no
  ``toStartOfInterval``; aliases never shadow a column name);
- times are epoch seconds (``toUInt32``), so no time zone is guessed; 64-bit numbers
  pass through ``int()`` because chDB's JSON output quotes them;
- a window of ``w`` minutes ending at minute ``end`` holds the minutes ``m`` with
  ``end - 60 w < m <= end`` — the definition ``conversion_rolling`` uses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from funnelwatch.clickhouse import ClickHouse

from ..spend import sql as spend_sql

BASELINE_DAYS = 7


def watermark(client: ClickHouse) -> int:
    """The newest event minute the sink has made durable (epoch seconds; 0: none yet)."""
    rows = client.execute(
        "SELECT argMax(watermark, version) FROM sink_progress WHERE name = %(name)s",
        {"name": "rolling"},
    )
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def campaigns(client: ClickHouse) -> list[tuple[str, int]]:
    """Every campaign the pipeline has written KPIs of, with its newest minute; by id."""
    rows = client.execute(
        "SELECT campaign_id, max(toUInt32(minute)) FROM kpi_minute "
        "WHERE dim = %(dim)s AND dim_value = %(dim)s GROUP BY campaign_id ORDER BY campaign_id",
        {"dim": "all"},
    )
    return [(str(c), int(m)) for c, m in rows]


def campaign_exists(client: ClickHouse, campaign_id: str) -> bool:
    rows = client.execute(
        "SELECT count() FROM kpi_minute WHERE campaign_id = %(campaign)s AND dim = %(dim)s",
        {"campaign": campaign_id, "dim": "all"},
    )
    return bool(rows) and int(rows[0][0]) > 0


@dataclass
class SegmentCounts:
    """Events per stage, spend and revenue of one segment in the window and its baseline."""

    dim: str
    value: str
    events: dict[str, int] = field(default_factory=dict)
    #: the clicks' own cost as read; the API puts the spend that counts in its place
    #: (None: the campaign's reports are in several currencies)
    spend_micros: int | None = 0
    revenue_micros: int = 0
    baseline_events: dict[str, int] = field(default_factory=dict)
    #: spend and revenue are in one currency (else no ROMI)
    same_currency: bool = True


_WINDOW_COUNTS = """
SELECT dim_value, stage,
       sumIf(n, m > %(lo)s), sumIf(c, m > %(lo)s), sumIf(r, m > %(lo)s), sumIf(n, m <= %(lo)s)
FROM
(
    SELECT toUInt32(minute) AS m, dim_value, stage,
           argMax(events, version) AS n, argMax(cost_micros, version) AS c,
           argMax(revenue_micros, version) AS r
    FROM kpi_minute
    WHERE campaign_id = %(campaign)s AND dim = %(dim)s
      AND minute > toDateTime(%(base_lo)s) AND minute <= toDateTime(%(end)s)
    GROUP BY minute, dim_value, stage
)
GROUP BY dim_value, stage
"""


def window_counts(
    client: ClickHouse, campaign_id: str, dim: str, end: int, window_minutes: int
) -> list[SegmentCounts]:
    """Per segment value of ``dim``: the window ending at ``end`` and the baseline.

    The baseline is the ``BASELINE_DAYS`` days right before the window (so the
    current window never dilutes it). Sorted by segment value.
    """
    lo = end - window_minutes * 60
    rows = client.execute(
        _WINDOW_COUNTS,
        {
            "campaign": campaign_id,
            "dim": dim,
            "end": end,
            "lo": lo,
            "base_lo": lo - BASELINE_DAYS * 86400,
        },
    )
    out: dict[str, SegmentCounts] = {}
    for value, stage, n, cost, revenue, base in rows:
        seg = out.setdefault(str(value), SegmentCounts(dim, str(value)))
        seg.events[str(stage)] = int(n)
        seg.baseline_events[str(stage)] = int(base)
        seg.spend_micros = (seg.spend_micros or 0) + int(cost)
        seg.revenue_micros += int(revenue)
    return [out[k] for k in sorted(out)]


def window_spend(
    client: ClickHouse, campaign_id: str, end: int, window_minutes: int, click_stage: str
) -> spend_sql.WindowSpend:
    """The spend that counts in the window ending at minute ``end`` (its minutes ``m``
    with ``end - 60 w < m <= end``), by the rules of :mod:`funnelwatch.processors.spend.sql`."""
    rows = client.execute(
        _WINDOW_SPEND,
        {
            "campaign": campaign_id,
            "w0": end - window_minutes * 60 + 60,
            "w1": end + 60,
            "click": click_stage,
        },
    )
    return spend_sql.parse_row(rows[0]) if rows else spend_sql.no_spend(campaign_id)


_WINDOW_SPEND = spend_sql.window_spend(
    "campaign_id = %(campaign)s", "%(w0)s", "%(w1)s", "%(click)s"
)


_CONVERSION_HISTORY = """
SELECT from_stage, to_stage, m, argMax(from_events, version), argMax(to_events, version)
FROM
(
    SELECT from_stage, to_stage, toUInt32(minute) AS m, from_events, to_events, version
    FROM conversion_rolling
    WHERE window_minutes = %(window)s AND campaign_id = %(campaign)s
      AND dim = %(dim)s AND dim_value = %(dim)s
      AND minute > toDateTime(%(lo)s) AND minute <= toDateTime(%(end)s)
      AND modulo(toUInt32(minute), %(step)s) = %(phase)s
)
GROUP BY from_stage, to_stage, m
ORDER BY from_stage, to_stage, m
"""


def conversion_history(
    client: ClickHouse, campaign_id: str, window_minutes: int, end: int, hours: int, step: int
) -> list[tuple[str, str, int, int, int]]:
    """Rolling conversions of the whole campaign, one point every ``step`` seconds up to
    ``end``: rows (from_stage, to_stage, minute, from_events, to_events) by minute."""
    rows = client.execute(
        _CONVERSION_HISTORY,
        {
            "window": window_minutes,
            "campaign": campaign_id,
            "dim": "all",
            "lo": end - hours * 3600,
            "end": end,
            "step": step,
            "phase": end % step,
        },
    )
    return [(str(f), str(t), int(m), int(a), int(b)) for f, t, m, a, b in rows]


_OPEN_ALERTS = """
SELECT alert_id, campaign_id, a_kind, a_metric, a_from, a_to, a_segments, a_started, a_fired,
       a_baseline, a_current, a_lost, a_summary
FROM
(
    SELECT alert_id, campaign_id,
           argMax(kind, version) AS a_kind, argMax(status, version) AS a_status,
           argMax(metric, version) AS a_metric, argMax(from_stage, version) AS a_from,
           argMax(to_stage, version) AS a_to, argMax(segments, version) AS a_segments,
           toUInt32(argMax(started_at, version)) AS a_started,
           toUInt32(argMax(fired_at, version)) AS a_fired,
           argMax(baseline, version) AS a_baseline, argMax(current, version) AS a_current,
           argMax(leads_lost, version) AS a_lost, argMax(summary, version) AS a_summary
    FROM alerts
    WHERE (%(any)s = 1 OR campaign_id = %(campaign)s)
    GROUP BY campaign_id, alert_id
)
WHERE a_status = %(firing)s
ORDER BY campaign_id, a_fired, alert_id
"""


def open_alerts(client: ClickHouse, campaign_id: str | None = None) -> list[dict[str, Any]]:
    """Alerts whose newest state is ``firing``, of one campaign or (None) of all."""
    rows = client.execute(
        _OPEN_ALERTS,
        {"any": int(campaign_id is None), "campaign": campaign_id or "", "firing": "firing"},
    )
    return [_alert(row) for row in rows]


def _alert(row: Sequence[Any]) -> dict[str, Any]:
    (alert_id, campaign, kind, metric, from_stage, to_stage, segments, started, fired,
     baseline, current, lost, summary) = row  # fmt: skip
    try:
        parsed = json.loads(segments) if segments else []
    except ValueError:
        parsed = [segments]  # the detectors' contract says JSON; show what is there anyway
    return {
        "alert_id": str(alert_id),
        "campaign_id": str(campaign),
        "kind": str(kind),
        "status": "firing",
        "metric": str(metric),
        "from_stage": str(from_stage),
        "to_stage": str(to_stage),
        "segments": parsed if isinstance(parsed, list) else [parsed],
        "started_at": int(started),
        "fired_at": int(fired),
        "baseline": float(baseline),
        "current": float(current),
        "leads_lost": float(lost),
        "summary": str(summary),
    }
