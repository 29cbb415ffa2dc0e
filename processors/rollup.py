"""Per-minute KPIs and rolling conversions, recomputed in ClickHouse from the facts.

Invariant: after :func:`recompute_minutes` for a set of minutes, every ``kpi_minute``
row of those minutes equals the aggregate of the latest version of every counted
fact of that minute — including rows that must fall back to zero because a fact
moved to another campaign. :func:`recompute_rolling` then derives every rolling
conversion whose window touches the target minutes. Both read only what
ClickHouse holds, so running them again (after a crash, a replay) gives the same rows.
The SQL keeps to what ClickHouse 18.16 and modern ClickHouse both understand.
"""

from __future__ import annotations

import time

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.schemas.funnel import Funnel

#: segment dimensions every fact is counted under; 'all' is the campaign as a whole
DIMENSIONS = ("all", "channel", "ad_group", "device", "geo")

_LATEST_FACTS = """
    SELECT minute, stage, event_id,
           argMax(campaign_id, version) AS campaign_id, argMax(channel, version) AS channel,
           argMax(ad_group_id, version) AS ad_group_id, argMax(device, version) AS device,
           argMax(geo, version) AS geo, argMax(counted, version) AS counted,
           argMax(cost_micros, version) AS cost, argMax(revenue_micros, version) AS revenue
    FROM funnel_facts
    WHERE minute >= toDateTime(%(lo)s) AND minute <= toDateTime(%(hi)s)
      AND toUInt32(minute) IN %(minutes)s
    GROUP BY minute, stage, event_id
"""

_RECOMPUTE_MINUTES = f"""
INSERT INTO kpi_minute
    (minute, campaign_id, dim, dim_value, stage, events, cost_micros, revenue_micros, version)
SELECT minute, campaign_id, dim, dim_value, stage, sum(n), sum(cost), sum(revenue), %(version)s
FROM
(
    SELECT minute, campaign_id, dim, dim_value, stage, toUInt64(1) AS n, cost, revenue
    FROM ({_LATEST_FACTS})
    ARRAY JOIN
        ['all', 'channel', 'ad_group', 'device', 'geo'] AS dim,
        ['all', channel, ad_group_id, device, geo] AS dim_value
    WHERE counted = 1
    UNION ALL
    SELECT minute, campaign_id, dim, dim_value, stage, toUInt64(0), toInt64(0), toInt64(0)
    FROM kpi_minute
    WHERE minute >= toDateTime(%(lo)s) AND minute <= toDateTime(%(hi)s)
      AND toUInt32(minute) IN %(minutes)s
)
GROUP BY minute, campaign_id, dim, dim_value, stage
"""

_RECOMPUTE_ROLLING = """
INSERT INTO conversion_rolling
    (minute, campaign_id, dim, dim_value, window_minutes, from_stage, to_stage,
     from_events, to_events, version)
SELECT toDateTime(t), campaign_id, dim, dim_value, %(window)s, from_stage, to_stage,
       sumIf(n, stage = from_stage), sumIf(n, stage = to_stage), %(version)s
FROM
(
    SELECT t, campaign_id, dim, dim_value, stage, sum(events) AS n
    FROM
    (
        -- The target minutes t in [lo, hi] whose window (t - w, t] holds minute m:
        -- t from max(m, lo) to min(m + w - 60, hi). Built with replicate() because
        -- ClickHouse 18.16 fails to resolve a column captured by a lambda here.
        SELECT campaign_id, dim, dim_value, stage, events,
               greatest(m, toUInt32(%(lo)s)) AS first_t,
               least(m + %(window_s)s - 60, toUInt32(%(hi)s)) AS last_t,
               range(toUInt32(if(last_t >= first_t, intDiv(last_t - first_t, 60) + 1, 0))) AS steps,
               arrayMap((i, base) -> base + i * 60, steps, replicate(first_t, steps)) AS targets
        FROM
        (
            SELECT toUInt32(minute) AS m, campaign_id, dim, dim_value, stage,
                   argMax(events, version) AS events
            FROM kpi_minute
            WHERE minute > toDateTime(%(data_lo)s) AND minute <= toDateTime(%(hi)s)
            GROUP BY minute, campaign_id, dim, dim_value, stage
        )
    )
    ARRAY JOIN targets AS t
    GROUP BY t, campaign_id, dim, dim_value, stage
)
ARRAY JOIN %(from_stages)s AS from_stage, %(to_stages)s AS to_stage
GROUP BY t, campaign_id, dim, dim_value, from_stage, to_stage
"""


def new_version() -> int:
    """A version later than any written before by this clock (microseconds)."""
    return time.time_ns() // 1000


def recompute_minutes(client: ClickHouse, minutes: set[int]) -> None:
    """Rewrite ``kpi_minute`` for these minutes (epoch seconds, multiples of 60)."""
    if not minutes:
        return
    client.execute(
        _RECOMPUTE_MINUTES,
        {
            "lo": min(minutes),
            "hi": max(minutes),
            "minutes": tuple(sorted(minutes)),
            "version": new_version(),
        },
    )


def recompute_rolling(
    client: ClickHouse, funnel: Funnel, windows: tuple[int, ...], lo: int, hi: int
) -> None:
    """Rewrite rolling conversions for every minute t in [lo, hi] and every window."""
    if hi < lo:
        return
    transitions = funnel.transitions
    version = new_version()
    for window in windows:
        client.execute(
            _RECOMPUTE_ROLLING,
            {
                "window": window,
                "window_s": window * 60,
                "lo": lo,
                "hi": hi,
                "data_lo": lo - window * 60,
                "from_stages": [a for a, _ in transitions],
                "to_stages": [b for _, b in transitions],
                "version": version,
            },
        )
