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

import threading
import time

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.schemas.funnel import Funnel

#: target minutes per rolling-recompute query (see recompute_rolling)
ROLL_CHUNK_MINUTES = 1440

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

# Rolling sums by prefix sums, linear in the minutes covered: per group and stage a
# dense per-minute array from `base` (the first minute any target window holds) to
# `hi`, its cumulative sum cs (with a leading 0), and for target j (t = lo + 60 j)
# the window sum cs[j + W + 1] - cs[j + 1], taken as the difference of two slices.
# A pseudo-stage '*' counts the minutes with any row, so a target gets a row exactly
# when its window holds data. No lambda captures a column and each level has one
# ARRAY JOIN: ClickHouse 18.16 supports neither.
_RECOMPUTE_ROLLING = """
INSERT INTO conversion_rolling
    (minute, campaign_id, dim, dim_value, window_minutes, from_stage, to_stage,
     from_events, to_events, version)
SELECT toDateTime(t), campaign_id, dim, dim_value, %(window)s, from_stage, to_stage,
       sumIf(n, stage = from_stage), sumIf(n, stage = to_stage), %(version)s
FROM
(
SELECT campaign_id, dim, dim_value, stage, n, t
FROM
(
    SELECT campaign_id, dim, dim_value, stage,
           arrayConcat([toUInt64(0)], arrayCumSum(groupArrayInsertAt(0, %(dense)s)(events, idx)))
               AS cs
    FROM
    (
        SELECT campaign_id, dim, dim_value, stage, events,
               toUInt32(intDiv(toUInt32(minute) - %(base)s, 60)) AS idx
        FROM
        (
            SELECT minute, campaign_id, dim, dim_value, stage, argMax(events, version) AS events
            FROM kpi_minute
            WHERE minute >= toDateTime(%(base)s) AND minute <= toDateTime(%(hi)s)
            GROUP BY minute, campaign_id, dim, dim_value, stage
        )
        UNION ALL
        SELECT campaign_id, dim, dim_value, '*', toUInt64(1),
               toUInt32(intDiv(toUInt32(minute) - %(base)s, 60))
        FROM kpi_minute
        WHERE minute >= toDateTime(%(base)s) AND minute <= toDateTime(%(hi)s)
        GROUP BY minute, campaign_id, dim, dim_value
    )
    GROUP BY campaign_id, dim, dim_value, stage
)
ARRAY JOIN
    arrayMap((a, b) -> a - b, arraySlice(cs, %(width)s + 1, %(targets)s),
             arraySlice(cs, 1, %(targets)s)) AS n,
    arrayMap(j -> toUInt32(%(lo)s) + j * 60, range(%(targets)s)) AS t
)
ARRAY JOIN %(from_stages)s AS from_stage, %(to_stages)s AS to_stage
GROUP BY campaign_id, dim, dim_value, t, from_stage, to_stage
HAVING sumIf(n, stage = '*') > 0
"""


_last_version = 0
_version_lock = threading.Lock()


def new_version() -> int:
    """A version above every one this process handed out or saw (microseconds).

    Wall-clock time, except that it never goes back: on a clock stepped back, a later
    rewrite would otherwise carry a lower version and lose to the stale row it replaces.
    """
    global _last_version
    with _version_lock:
        _last_version = max(time.time_ns() // 1000, _last_version + 1)
        return _last_version


def saw_version(version: int) -> None:
    """Note a version read back from ClickHouse: later ones are above it (a restart)."""
    global _last_version
    with _version_lock:
        _last_version = max(_last_version, version)


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
    """Rewrite rolling conversions for every minute t in [lo, hi] and every window.

    The span is cut into chunks of ``ROLL_CHUNK_MINUTES``: the query holds a dense array
    per series over chunk + window, so memory stays bounded when a late event reopens
    minutes days back."""
    if hi < lo:
        return
    transitions = funnel.transitions
    version = new_version()
    for chunk_lo in range(lo, hi + 1, ROLL_CHUNK_MINUTES * 60):
        chunk_hi = min(hi, chunk_lo + (ROLL_CHUNK_MINUTES - 1) * 60)
        for window in windows:
            base = chunk_lo - (window - 1) * 60
            client.execute(
                _RECOMPUTE_ROLLING,
                {
                    "window": window,
                    "width": window,
                    "lo": chunk_lo,
                    "hi": chunk_hi,
                    "base": base,
                    "dense": (chunk_hi - base) // 60 + 1,
                    "targets": (chunk_hi - chunk_lo) // 60 + 1,
                    "from_stages": [a for a, _ in transitions],
                    "to_stages": [b for _, b in transitions],
                    "version": version,
                },
            )
