"""Per-minute KPIs and rolling conversions, recomputed in ClickHouse from the facts.

Invariant: after :func:`recompute_minutes` for a set of minutes, every ``kpi_minute``
row of those minutes equals the aggregate of the latest version of every counted
fact of that minute — including rows that must fall back to zero because a fact
moved to another campaign. :func:`recompute_rolling` then derives every rolling
conversion whose window touches the target minutes. Both read only what
ClickHouse holds, so running them again (after a crash, a replay) gives the same rows.
One process recomputes at a time (the roller, see :mod:`.roller`), so a recompute that
started later, and therefore saw more facts, always carries the higher version.
The SQL keeps to what ClickHouse 18.16 and modern ClickHouse both understand.
"""

from __future__ import annotations

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.schemas.funnel import Funnel
from funnelwatch.schemas.segments import BUILT_IN_SEGMENTS, OTHER, SegmentSet

from .versions import new_version

#: target minutes per rolling-recompute query (see recompute_rolling)
ROLL_CHUNK_MINUTES = 1440
#: most array elements (series x dense minutes) one rolling query holds: its arrays are
#: copied a few times (cumulative sum, slices), and on chDB that memory is the worker's
ROLL_MAX_CELLS = 4_000_000
#: minutes per kpi recompute query: the list goes into the SQL twice, and a query must
#: stay under ClickHouse's max_query_size (256 KiB); 2,000 minutes are about 44 KB
KPI_CHUNK_MINUTES = 2000

#: Rolling conversions are kept for the whole campaign: per segment, a row per minute,
#: window and transition would grow with minutes x segments (120,000 rows a minute at
#: 10,000 campaign x segment keys) whatever the traffic, and no reader needs them.
ROLLING_DIM = "all"

# The newest version of each fact is what FINAL reads of a ReplacingMergeTree(version)
# (one row per sorting key: minute, stage, event_id). Only conditions on the sorting key
# go into WHERE: a condition on another column could be applied before the versions are
# collapsed (PREWHERE) and resurrect an older one. Facts are summed per whole segment
# before being spread to the dimensions (the fact's own dim_names: 'all' and the set it
# was written under), so the spreading handles groups, not events. Then, per minute,
# campaign and dimension, the values are ranked by their events of the minute (all
# stages; ties by value) and those past the dimension's top N count as '(other)': the
# rows of a minute are bounded by (N + 1) x campaigns per dimension and stage, however
# many values there are. Per-value arrays travel nested through the ranking level, as
# ClickHouse 18.16 has no window functions, no sumMap over strings and no lambda that
# captures a column.
_RECOMPUTE_MINUTES = """
INSERT INTO kpi_minute
    (minute, campaign_id, dim, dim_value, stage, events, cost_micros, revenue_micros, version)
SELECT minute, campaign_id, dim, kept_value, stage, sum(n), sum(cost), sum(revenue), %(version)s
FROM
(
    SELECT minute, campaign_id, dim, kept_value, stage, n, cost, revenue
    FROM
    (
        SELECT minute, campaign_id, dim,
               if(dim = 'all' OR has(kept, dim_value), dim_value, %(other)s) AS kept_value,
               stages, ns, costs, revenues
        FROM
        (
            SELECT minute, campaign_id, dim, groupArray(dim_value) AS dim_values,
                   groupArray(stages) AS stages_of, groupArray(ns) AS ns_of,
                   groupArray(costs) AS costs_of, groupArray(revenues) AS revenues_of,
                   arraySlice(
                       arraySort((v, t) -> (-toInt64(t), v), groupArray(dim_value),
                                 groupArray(total)),
                       1,
                       if(indexOf(%(top_dims)s, dim) = 0, %(top_default)s,
                          arrayElement(%(top_n)s, indexOf(%(top_dims)s, dim)))) AS kept
            FROM
            (
                SELECT minute, campaign_id, dim, dim_value, sum(n) AS total,
                       groupArray(stage) AS stages, groupArray(n) AS ns,
                       groupArray(cost) AS costs, groupArray(revenue) AS revenues
                FROM
                (
                    SELECT minute, campaign_id, dim, dim_value, stage,
                           sum(n) AS n, sum(cost) AS cost, sum(revenue) AS revenue
                    FROM
                    (
                        SELECT minute, campaign_id, dim_names, dim_values, stage,
                               toUInt64(sum(counted)) AS n,
                               sumIf(cost_micros, counted = 1) AS cost,
                               sumIf(revenue_micros, counted = 1) AS revenue
                        FROM funnel_facts FINAL
                        WHERE minute IN %(minutes)s
                        GROUP BY minute, campaign_id, dim_names, dim_values, stage
                    )
                    ARRAY JOIN
                        arrayConcat(['all'], dim_names) AS dim,
                        arrayConcat(['all'], dim_values) AS dim_value
                    GROUP BY minute, campaign_id, dim, dim_value, stage
                )
                GROUP BY minute, campaign_id, dim, dim_value
            )
            GROUP BY minute, campaign_id, dim
        )
        ARRAY JOIN dim_values AS dim_value, stages_of AS stages, ns_of AS ns,
                   costs_of AS costs, revenues_of AS revenues
    )
    ARRAY JOIN stages AS stage, ns AS n, costs AS cost, revenues AS revenue
    UNION ALL
    SELECT minute, campaign_id, dim, dim_value, stage, toUInt64(0), toInt64(0), toInt64(0)
    FROM kpi_minute
    WHERE minute IN %(minutes)s
)
GROUP BY minute, campaign_id, dim, kept_value, stage
"""

# Rolling sums by prefix sums, linear in the minutes covered: per group and stage a
# dense per-minute array from `base` (the first minute any target window holds) to
# `hi`, its cumulative sum cs (with a leading 0), and for target j (t = lo + 60 j)
# the window sum cs[j + W + 1] - cs[j + 1], taken as the difference of two slices.
# A pseudo-stage '*' counts the minutes with any row, so a target gets a row exactly
# when its window holds data. Stages are then pivoted into one array per campaign and
# target (a group of one key, not one per transition), from which each transition's row
# is read by index. No lambda captures a column and each level has one ARRAY JOIN:
# ClickHouse 18.16 supports neither.
_RECOMPUTE_ROLLING = """
INSERT INTO conversion_rolling
    (minute, campaign_id, dim, dim_value, window_minutes, from_stage, to_stage,
     from_events, to_events, version)
SELECT toDateTime(t), campaign_id, dim, dim_value, %(window)s,
       arrayElement(%(stages)s, fi), arrayElement(%(stages)s, ti),
       arrayElement(per_stage, fi), arrayElement(per_stage, ti), %(version)s
FROM
(
SELECT campaign_id, dim, dim_value, t, [{per_stage}] AS per_stage
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
              AND dim = %(dim)s AND cityHash64(campaign_id) %% %(parts)s = %(part)s
            GROUP BY minute, campaign_id, dim, dim_value, stage
        )
        UNION ALL
        SELECT campaign_id, dim, dim_value, '*', toUInt64(1),
               toUInt32(intDiv(toUInt32(minute) - %(base)s, 60))
        FROM kpi_minute
        WHERE minute >= toDateTime(%(base)s) AND minute <= toDateTime(%(hi)s)
          AND dim = %(dim)s AND cityHash64(campaign_id) %% %(parts)s = %(part)s
        GROUP BY minute, campaign_id, dim, dim_value
    )
    GROUP BY campaign_id, dim, dim_value, stage
)
ARRAY JOIN
    arrayMap((a, b) -> a - b, arraySlice(cs, %(width)s + 1, %(targets)s),
             arraySlice(cs, 1, %(targets)s)) AS n,
    arrayMap(j -> toUInt32(%(lo)s) + j * 60, range(%(targets)s)) AS t
)
GROUP BY campaign_id, dim, dim_value, t
HAVING sumIf(n, stage = '*') > 0
)
ARRAY JOIN %(from_index)s AS fi, %(to_index)s AS ti
"""


def _rolling_sql(stages: int) -> str:
    """The rolling query for a funnel of this many stages: per target minute one row per
    campaign with the window sum of every stage (in funnel order), then one row per
    transition read from it. The stage names are parameters (``s0``, ``s1`` ...)."""
    per_stage = ", ".join(f"sumIf(n, stage = %(s{i})s)" for i in range(stages))
    return _RECOMPUTE_ROLLING.replace("{per_stage}", per_stage)


def recompute_minutes(
    client: ClickHouse, minutes: set[int], segments: SegmentSet = BUILT_IN_SEGMENTS
) -> None:
    """Rewrite ``kpi_minute`` for these minutes (epoch seconds, multiples of 60), each
    dimension cut to its top N values of ``segments`` (other dimensions a fact was
    written under: to the set's default N)."""
    ordered = sorted(minutes)
    version = new_version()
    params = {
        "version": version,
        "other": OTHER,
        # never empty: ClickHouse cannot type an empty array literal's elements
        "top_dims": list(segments.names) or [""],
        "top_n": [d.top for d in segments.dimensions] or [segments.default_top],
        "top_default": segments.default_top,
    }
    for start in range(0, len(ordered), KPI_CHUNK_MINUTES):
        chunk = tuple(ordered[start : start + KPI_CHUNK_MINUTES])
        client.execute(_RECOMPUTE_MINUTES, {**params, "minutes": chunk})


def recompute_rolling(
    client: ClickHouse, funnel: Funnel, windows: tuple[int, ...], lo: int, hi: int
) -> None:
    """Rewrite rolling conversions of whole campaigns for every minute t in [lo, hi] and
    every window.

    The span is cut into chunks of ``ROLL_CHUNK_MINUTES``, and the campaigns into parts
    (by hash) of at most ``ROLL_MAX_CELLS`` array cells: the query holds a dense array
    per series over chunk + window, so memory stays bounded however many campaigns
    there are and however far back a late event reopens minutes."""
    if hi < lo:
        return
    stages = list(funnel.stage_names)
    index = {name: i + 1 for i, name in enumerate(stages)}  # arrayElement counts from 1
    sql = _rolling_sql(len(stages))
    named = {f"s{i}": name for i, name in enumerate(stages)}
    transitions = funnel.transitions
    version = new_version()
    series = (len(stages) + 1) * _campaigns(client, lo - (max(windows) - 1) * 60, hi)
    for chunk_lo in range(lo, hi + 1, ROLL_CHUNK_MINUTES * 60):
        chunk_hi = min(hi, chunk_lo + (ROLL_CHUNK_MINUTES - 1) * 60)
        for window, part, parts in _pieces(windows, series, chunk_lo, chunk_hi):
            base = chunk_lo - (window - 1) * 60
            client.execute(
                sql,
                {
                    **named,
                    "stages": stages,
                    "from_index": [index[a] for a, _ in transitions],
                    "to_index": [index[b] for _, b in transitions],
                    "part": part,
                    "parts": parts,
                    "window": window,
                    "width": window,
                    "lo": chunk_lo,
                    "hi": chunk_hi,
                    "base": base,
                    "dense": (chunk_hi - base) // 60 + 1,
                    "targets": (chunk_hi - chunk_lo) // 60 + 1,
                    "dim": ROLLING_DIM,
                    "version": version,
                },
            )


def _campaigns(client: ClickHouse, lo: int, hi: int) -> int:
    rows = client.execute(
        "SELECT uniqExact(campaign_id) FROM kpi_minute WHERE minute >= toDateTime(%(lo)s) "
        "AND minute <= toDateTime(%(hi)s) AND dim = %(dim)s",
        {"lo": lo, "hi": hi, "dim": ROLLING_DIM},
    )
    return int(rows[0][0]) if rows else 0


def _pieces(windows: tuple[int, ...], series: int, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """(window, part, parts) of each query: enough parts that none exceeds the cells."""
    pieces = []
    for window in windows:
        dense = (hi - lo) // 60 + window
        parts = max(1, -(-series * dense // ROLL_MAX_CELLS))
        pieces += [(window, part, parts) for part in range(parts)]
    return pieces
