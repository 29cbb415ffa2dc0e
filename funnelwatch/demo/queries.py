"""Read-side queries of the demo board: one query per function, typed rows out.

Invariants:
- both tables are ReplacingMergeTree rewritten by the sink, so every read uses ``FINAL``:
  a rewritten row counts once, at its newest version; the filters touch only sorting-key
  columns, so ``FINAL`` and ``WHERE`` commute; spend is the one definition of
  funnelwatch.processors.spend.sql (reports by argMax);
- only the whole-campaign segment (``dim = 'all'``, ``dim_value = 'all'``) is read;
- values travel as ``%(name)s`` parameters, escaped by the driver, never pasted;
- 64-bit numbers are passed through ``int()``: chDB's JSON output quotes them as strings;
- the SQL runs on ClickHouse 18.16 and on modern ClickHouse/chDB alike (no window
  functions, no ``toStartOfInterval``);
- money stays integer micros here; KPI ratios are ``None`` when the divisor is zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.spend.sql import parse_row, window_spend
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.schemas.kpis import cost_kpis, ratio

#: the segment that is the campaign as a whole (see ``schemas.segments.ALL``)
_WHOLE_CAMPAIGN = "dim = 'all' AND dim_value = 'all'"


@dataclass(frozen=True)
class CampaignFunnel:
    """Counted events per stage, spend and revenue of one campaign since a time.

    ``events`` maps a stage (or outcome) name to its count; a stage without events
    may be missing, so read it with :meth:`count`. ``newest_minute`` is the epoch
    second of the newest minute with any event, 0 if none.
    """

    campaign_id: str
    events: Mapping[str, int]
    #: the spend that counts (funnelwatch.processors.spend): reported, provisional or
    #: the clicks' own cost
    spend_micros: int
    revenue_micros: int
    newest_minute: int
    #: part of the spend is provisional (clicks after the campaign's last spend report)
    provisional: bool = False

    def count(self, stage: str) -> int:
        return self.events.get(stage, 0)


_CAMPAIGN_FUNNELS = f"""
SELECT campaign_id, stage, sum(events), sum(cost_micros), sum(revenue_micros),
       maxIf(toUInt32(minute), events > 0)
FROM kpi_minute FINAL
WHERE {_WHOLE_CAMPAIGN} AND minute >= toDateTime(%(since)s)
GROUP BY campaign_id, stage
"""


def campaign_funnels(client: ClickHouse, since_epoch: int) -> list[CampaignFunnel]:
    """Per campaign: events per stage, spend and revenue of minutes >= ``since_epoch``.

    Sorted by campaign id. Spend is the spend that counts from ``since_epoch`` on (see
    funnelwatch.processors.spend.sql), revenue the sum over won rows.
    """
    rows = client.execute(_CAMPAIGN_FUNNELS, {"since": int(since_epoch)})
    spend = {
        s.campaign_id: s
        for s in map(
            parse_row,
            client.execute(
                _SPEND_SINCE,
                {"since": int(since_epoch), "until": int(since_epoch) + _FOREVER, "click": _CLICK},
            ),
        )
    }
    events: dict[str, dict[str, int]] = {}
    money: dict[str, list[int]] = {}
    for campaign, stage, n, cost, revenue, newest in rows:
        events.setdefault(campaign, {})[str(stage)] = int(n)
        acc = money.setdefault(campaign, [0, 0, 0])
        acc[0] += int(cost)
        acc[1] += int(revenue)
        acc[2] = max(acc[2], int(newest))
    return [
        CampaignFunnel(
            str(c),
            events[c],
            spend[c].spend_micros if c in spend else money[c][0],
            money[c][1],
            money[c][2],
            c in spend and spend[c].provisional_micros > 0,
        )
        for c in sorted(events)
    ]


_CLICK = load_funnel().stage_names[0]
#: a window open to the future: every minute from ``since`` on
_FOREVER = 10 * 365 * 86400
_SPEND_SINCE = window_spend("campaign_id != ''", "%(since)s", "%(until)s", "%(click)s")


@dataclass(frozen=True)
class Kpis:
    """Cost KPIs of one campaign; money in micros, ``romi`` a fraction (0.5 = +50 %).

    Every field is None when its divisor is zero: no clicks, no leads, no spend...
    """

    cpc_micros: float | None
    cpl_micros: float | None
    cost_per_qualified_micros: float | None
    cac_micros: float | None
    romi: float | None


def kpis(funnel: CampaignFunnel, stages: Sequence[str]) -> Kpis:
    """CPC, CPL, cost per qualified lead, CAC and ROMI of a campaign, as
    funnelwatch.schemas.kpis defines them; ``stages`` needs at least two names."""
    k = cost_kpis(stages, funnel.count, funnel.spend_micros, funnel.revenue_micros)
    return Kpis(
        cpc_micros=k["cpc"],
        cpl_micros=k["cpl"],
        cost_per_qualified_micros=k["cost_per_qualified"],
        cac_micros=k["cac"],
        romi=k["romi"],
    )


@dataclass(frozen=True)
class Conversion:
    """A campaign's rolling conversion ``from_stage -> to_stage`` at its newest minute.

    ``from_events``/``to_events`` are the counts in the ``window_minutes`` ending at
    ``minute`` (epoch seconds). ``history`` holds the conversion of each of the last
    minutes, oldest first, the last one at ``minute``; None where nothing reached
    ``from_stage``. ``baseline`` is the conversion over the baseline window that ends
    where the current window begins (so the current window never dilutes it); None
    when there is no data that old or nothing reached ``from_stage``.
    """

    campaign_id: str
    from_stage: str
    to_stage: str
    window_minutes: int
    minute: int
    from_events: int
    to_events: int
    history: tuple[float | None, ...]
    baseline: float | None

    @property
    def rate(self) -> float | None:
        rate: float | None = ratio(self.to_events, self.from_events)
        return rate


# One scan of the two windows needed, as minute-ordered arrays per series. The lower
# bound follows the newest minute written for the current window, so the board reads
# a bounded slice however much history the table holds. Parallel groupArray calls of
# one GROUP BY see rows in the same order, so the arrays stay aligned.
_LATEST_CONVERSIONS = f"""
SELECT campaign_id, from_stage, to_stage, window_minutes,
       groupArray(toUInt32(minute)), groupArray(from_events), groupArray(to_events)
FROM conversion_rolling FINAL
WHERE {_WHOLE_CAMPAIGN}
  AND window_minutes IN (%(window)s, %(baseline_window)s)
  AND toUInt32(minute) + %(span_s)s >= (
      SELECT max(toUInt32(minute)) FROM conversion_rolling
      WHERE window_minutes = %(window)s AND {_WHOLE_CAMPAIGN})
GROUP BY campaign_id, from_stage, to_stage, window_minutes
"""

_Series = dict[int, tuple[int, int]]  # minute -> (from_events, to_events)


def latest_conversions(
    client: ClickHouse,
    window_minutes: int,
    baseline_window_minutes: int = 1440,
    history_minutes: int = 30,
) -> list[Conversion]:
    """Per campaign and transition: the rolling conversion at the campaign's newest minute.

    Both windows must be among the sink's rolling windows. Only the newest
    ``max(history_minutes, window_minutes)`` minutes of the table are read, so a
    campaign that went quiet longer ago than that is absent. Sorted by campaign id,
    then stage names.
    """
    rows = client.execute(
        _LATEST_CONVERSIONS,
        {
            "window": window_minutes,
            "baseline_window": baseline_window_minutes,
            "span_s": max(history_minutes - 1, window_minutes) * 60,
        },
    )
    series: dict[tuple[str, str, str, int], _Series] = {}
    for campaign, from_stage, to_stage, window, minutes, froms, tos in rows:
        series[(str(campaign), str(from_stage), str(to_stage), int(window))] = {
            int(m): (int(f), int(t)) for m, f, t in zip(minutes, froms, tos, strict=True)
        }
    out = []
    for (campaign, from_stage, to_stage, window), current in sorted(series.items()):
        if window != window_minutes or not current:
            continue
        newest = max(current)
        from_events, to_events = current[newest]
        baseline = series.get((campaign, from_stage, to_stage, baseline_window_minutes), {})
        out.append(
            Conversion(
                campaign_id=campaign,
                from_stage=from_stage,
                to_stage=to_stage,
                window_minutes=window,
                minute=newest,
                from_events=from_events,
                to_events=to_events,
                history=tuple(
                    _rate(current.get(newest - i * 60)) for i in reversed(range(history_minutes))
                ),
                baseline=_rate(baseline.get(newest - window_minutes * 60)),
            )
        )
    return out


def _rate(point: tuple[int, int] | None) -> float | None:
    return None if point is None else ratio(point[1], point[0])
