"""The demo's live terminal board: one row per campaign, refreshed inside ``rich.live.Live``.

``Board(client).poll()`` reads a :class:`BoardSnapshot` (two queries) and
:func:`render_board` turns it into a rich renderable. Invariants:
- rendering is pure: the same snapshot gives the same output, and no I/O happens there,
  so the board can be tested from hand-built snapshots;
- money is shown in currency units with 2 decimals (rounded half up from micros), a
  ratio whose divisor is zero as an en dash;
- a campaign is marked as a conversion drop (red row, "▼") only by
  :func:`conversion_dropped` on its first transition (click → lead) over the current
  window, and listed under the table with its numbers;
- an expected campaign (``BoardSnapshot.expected``) without any row yet is listed as
  "waiting for traffic", never left out and never counted as a drop.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.schemas.funnel import Funnel, load_funnel

from .queries import CampaignFunnel, Conversion, campaign_funnels, kpis, latest_conversions

BLOCKS = "▁▂▃▄▅▆▇█"
NONE = "\N{EN DASH}"  # what a ratio with a zero divisor shows
DROP_MARK = "▼ conversion drop"
WAITING = "waiting for traffic"

#: below this share of its baseline a conversion counts as dropped ...
DROP_SHARE = 0.5
#: ... but only with this many from-stage events in the window: fewer are noise
DROP_MIN_EVENTS = 100
#: a conversion of exactly zero is damning with fewer events (a broken form sends nothing)
ZERO_MIN_EVENTS = 60
#: a drop must be this unlikely under the baseline rate to be marked
DROP_P_VALUE = 0.001

# Sorted last: it collects what no campaign claims, not a campaign one can fix.
_UNATTRIBUTED = "(unattributed)"


@dataclass(frozen=True)
class BoardSnapshot:
    """Everything one frame of the board shows.

    ``funnels`` count since ``since_epoch`` (0: all data); ``conversions`` are over the
    rolling ``window_minutes`` ending at each campaign's newest minute, with
    ``history_minutes`` of per-minute history. ``stages`` is the funnel, in order.
    ``expected`` names campaigns to list even before they have any row.
    """

    stages: tuple[str, ...]
    window_minutes: int
    history_minutes: int
    since_epoch: int
    funnels: tuple[CampaignFunnel, ...]
    conversions: tuple[Conversion, ...]
    expected: tuple[str, ...] = ()

    @property
    def has_data(self) -> bool:
        """Whether any KPI row exists (the board is worth drawing)."""
        return bool(self.funnels or self.conversions)

    @property
    def newest_minute(self) -> int | None:
        """Epoch second of the newest minute with data, None before any data."""
        minutes = [f.newest_minute for f in self.funnels if f.newest_minute]
        minutes += [c.minute for c in self.conversions]
        return max(minutes, default=None)

    @property
    def campaigns(self) -> list[str]:
        ids = {f.campaign_id for f in self.funnels} | {c.campaign_id for c in self.conversions}
        ids |= set(self.expected)
        return sorted(ids, key=lambda c: (c == _UNATTRIBUTED, c))


class Board:
    """Builds snapshots from ClickHouse; one :meth:`poll` per refresh of the demo."""

    def __init__(
        self,
        client: ClickHouse,
        *,
        funnel: Funnel | None = None,
        since_epoch: int = 0,
        window_minutes: int = 15,
        baseline_window_minutes: int = 1440,
        history_minutes: int = 30,
        expected_campaigns: Sequence[str] = (),
    ) -> None:
        self._client = client
        self._expected = tuple(expected_campaigns)
        self._stages = (funnel or load_funnel()).stage_names
        self._since = since_epoch
        self._window = window_minutes
        self._baseline_window = baseline_window_minutes
        self._history = history_minutes

    def poll(self) -> BoardSnapshot:
        return BoardSnapshot(
            stages=self._stages,
            window_minutes=self._window,
            history_minutes=self._history,
            since_epoch=self._since,
            funnels=tuple(campaign_funnels(self._client, self._since)),
            conversions=tuple(
                latest_conversions(self._client, self._window, self._baseline_window, self._history)
            ),
            expected=self._expected,
        )


def conversion_dropped(conversion: Conversion) -> bool:
    """True when the conversion is far below its baseline, or zero, on enough volume.

    Without a baseline a zero counts only over a full window: in a campaign's first
    minutes the window holds a few minutes of clicks whose leads have not come yet.
    """
    rate, n = conversion.rate, conversion.from_events
    if rate is None:
        return False
    if rate == 0 and n >= ZERO_MIN_EVENTS:
        return conversion.baseline is not None or window_is_full(conversion)
    baseline = conversion.baseline
    if not baseline or n < DROP_MIN_EVENTS or rate >= DROP_SHARE * baseline:
        return False
    # Far below baseline on enough volume, and unlikely to be chance: the Poisson
    # probability of so few conversions at the baseline rate is below DROP_P_VALUE.
    return poisson_tail(conversion.to_events, n * baseline) < DROP_P_VALUE


def window_is_full(conversion: Conversion) -> bool:
    """Whether the campaign has data at or before the first minute of the current window
    (True when the history is too short to tell)."""
    history, window = conversion.history, conversion.window_minutes
    if len(history) < window:
        return True
    return any(r is not None for r in history[: len(history) - window + 1])


def poisson_tail(observed: int, expected: float) -> float:
    """P(X <= observed) for X ~ Poisson(expected)."""
    term = total = math.exp(-expected)
    for k in range(1, observed + 1):
        term *= expected / k
        total += term
    return min(total, 1.0)


def money(micros: float | None) -> str:
    """Micros as currency units, 2 decimals, thousands separated; None as :data:`NONE`."""
    if micros is None:
        return NONE
    units = (Decimal(micros) / 1_000_000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{units:,.2f}"


def percent(fraction: float | None, signed: bool = False) -> str:
    if fraction is None:
        return NONE
    return f"{fraction * 100:+.0f}%" if signed else f"{fraction * 100:.1f}%"


def sparkline(values: Sequence[float | None], width: int | None = None, top: float = 0.0) -> str:
    """One block per value, scaled from 0 to the largest value (or ``top`` if larger).

    A None value leaves a gap. With ``width`` below ``len(values)`` neighbouring values
    are averaged into ``width`` blocks, so the line still spans the whole history.
    """
    if width is not None and 0 < width < len(values):
        n = len(values)
        values = [_mean(values[i * n // width : (i + 1) * n // width]) for i in range(width)]
    top = max([top, *(v for v in values if v is not None)])
    last = len(BLOCKS) - 1
    return "".join(
        " " if v is None else BLOCKS[round(v / top * last) if top > 0 else 0] for v in values
    )


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def render_board(
    snapshot: BoardSnapshot,
    *,
    events_per_second: float | None = None,
    traffic: str | None = None,
) -> RenderableType:
    """The whole frame: a header line, the campaign table and the list of drops.

    ``traffic`` is a short note on the traffic's pace for the header ("60x real time").

    The result lays itself out for the width it is given: when the table would be too
    wide, the sparkline narrows first (averaging neighbours), then campaign names are
    cut in the middle with "…" (see :func:`_fitted_table`).
    """
    return _BoardView(snapshot, events_per_second, traffic)


# Narrowest sparkline (its header is as wide) and name widths, "▼ " included.
_MIN_SPARK = 10
_SHORT_NAME = 14
_MIN_NAME = 8


@dataclass(frozen=True)
class _Row:
    """One campaign as the table shows it; ``first`` is its first transition."""

    campaign: str
    funnel: CampaignFunnel
    conversions: tuple[Conversion | None, ...]
    dropped: bool
    waiting: bool = False  # an expected campaign without any row yet

    @property
    def first(self) -> Conversion | None:
        return self.conversions[0] if self.conversions else None

    def label(self, width: int) -> str:
        """The campaign id cut to ``width - 2``; the 2 more are for "▼ " when dropped.

        Every row reserves the marker's room, so a drop appearing does not shift columns.
        """
        name = _cut(self.campaign, width - 2)
        return f"▼ {name}" if self.dropped else name


class _BoardView:
    def __init__(
        self, snapshot: BoardSnapshot, events_per_second: float | None, traffic: str | None
    ) -> None:
        self.snapshot = snapshot
        self.events_per_second = events_per_second
        self.traffic = traffic

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        snapshot = self.snapshot
        rows = _rows(snapshot)
        drops = [r.first for r in rows if r.dropped and r.first is not None]
        yield Group(
            _header(snapshot, self.events_per_second, self.traffic),
            _fitted_table(console, options, snapshot, rows),
            *_drop_lines(drops),
        )


def _fitted_table(
    console: Console, options: ConsoleOptions, snapshot: BoardSnapshot, rows: list[_Row]
) -> Table:
    """The widest layout that fits ``options.max_width``.

    Tried in order, measuring each: roomy gaps; tight gaps; the sparkline narrowed to 10
    blocks; names cut to 14 characters, then to 8. A narrower sparkline still spans all
    its minutes (neighbours averaged) while a cut name may stop telling campaigns apart,
    so names give way last. What still does not fit is left to rich to squeeze.
    """
    spark = snapshot.history_minutes
    name = max((len(r.campaign) + 2 for r in rows), default=0)

    def excess(table: Table) -> int:
        # Measured unbounded: Measurement.get clamps to the width it is given.
        natural = Measurement.get(console, options.update_width(10_000), table).maximum
        return natural - options.max_width

    table = _table(snapshot, rows, spark, name, gap=2)
    if excess(table) <= 0:
        return table
    for _ in range(4):  # one step per part that can give way, each re-measured
        table = _table(snapshot, rows, spark, name, gap=1)
        over = excess(table)
        if over <= 0:
            break
        if spark > _MIN_SPARK:
            spark = max(_MIN_SPARK, spark - over)
        elif name > _SHORT_NAME:
            name = max(_SHORT_NAME, name - over)
        elif name > _MIN_NAME:
            name = max(_MIN_NAME, name - over)
        else:
            break
    return table


def _rows(snapshot: BoardSnapshot) -> list[_Row]:
    stages = snapshot.stages
    transitions = list(pairwise(stages))
    by_key = {(c.campaign_id, c.from_stage, c.to_stage): c for c in snapshot.conversions}
    funnels = {f.campaign_id: f for f in snapshot.funnels}
    rows = []
    for campaign in snapshot.campaigns:
        convs = tuple(by_key.get((campaign, a, b)) for a, b in transitions)
        first = convs[0] if convs else None
        dropped = first is not None and conversion_dropped(first)
        rows.append(
            _Row(
                campaign=campaign,
                funnel=funnels.get(campaign) or CampaignFunnel(campaign, {}, 0, 0, 0),
                conversions=convs,
                dropped=dropped,
                waiting=campaign not in funnels and not any(convs),
            )
        )
    return rows


def _cut(text: str, width: int) -> str:
    # Campaign ids of one account tend to share a prefix ("cmp-social-…") and differ at
    # the end, so a cut keeps a little of the head and most of the tail.
    if len(text) <= width:
        return text
    head = min(4, (width - 1) // 3)
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def _short(stage: str) -> str:
    # Narrow headers keep a row within 120 columns; the column order tells the stage.
    return stage if len(stage) <= 6 else stage[:4] + "."


def _table(snapshot: BoardSnapshot, rows: list[_Row], spark: int, name: int, gap: int) -> Table:
    stages = snapshot.stages
    # The box's column divider is one space; padding adds the rest of the gap.
    table = Table(
        box=box.SIMPLE_HEAD, padding=(0, gap - 1), collapse_padding=True, pad_edge=False,
        show_edge=False,
    )  # fmt: skip
    table.add_column("campaign", no_wrap=True)
    for stage in stages:
        table.add_column(_short(stage), justify="right", no_wrap=True)
    for a, b in pairwise(stages):
        table.add_column(f"{_short(a)}\n→{_short(b)}", justify="right", no_wrap=True)
    # A funnel has at least two stages (the funnel loader insists), so there is a first one.
    table.add_column(f"{stages[0]}→{stages[1]}\n{snapshot.history_minutes} min", no_wrap=True)
    for header in ("spend", "CPC", "CPL", "per\nqual.", "CAC", "ROMI"):
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        funnel, first = row.funnel, row.first
        if row.waiting:
            waiting = WAITING if spark >= len(WAITING) else "waiting…"
            blank = [NONE] * (len(stages) * 2 - 1)
            table.add_row(row.label(name), *blank, Text(waiting, style="dim"),
                          *[NONE] * 6, style="dim")  # fmt: skip
            continue
        k = kpis(funnel, stages)
        table.add_row(
            row.label(name),
            *(f"{funnel.count(s):,}" for s in stages),
            *(percent(c.rate if c else None) for c in row.conversions),
            sparkline(first.history, spark, first.baseline or 0.0) if first else "",
            money(funnel.spend_micros) + ("*" if funnel.provisional else ""),
            money(k.cpc_micros),
            money(k.cpl_micros),
            money(k.cost_per_qualified_micros),
            money(k.cac_micros),
            percent(k.romi, signed=True),
            style="bold red" if row.dropped else None,
        )
    if any(row.funnel.provisional for row in rows if not row.waiting):
        table.caption = "spend*: partly provisional, clicks after the last spend report"
    return table


def _header(
    snapshot: BoardSnapshot, events_per_second: float | None, traffic: str | None = None
) -> Text:
    text = Text("funnelwatch", style="bold")
    newest = snapshot.newest_minute
    text.append(f" · data up to {_clock(newest)}" if newest else " · waiting for data…")
    if events_per_second is not None:
        text.append(f" · {events_per_second:,.0f} events/s")
    if traffic:
        text.append(f" · traffic {traffic}")
    since = snapshot.since_epoch
    text.append(
        f" · totals {f'since {_clock(since, newest)}' if since else 'of all data'}"
        f" · conversions: last {snapshot.window_minutes} min",
        style="dim",
    )
    return text


def _drop_lines(drops: list[Conversion]) -> list[Text]:
    if not drops:
        return [Text("no conversion drop", style="dim")]
    return [
        Text(
            f"{DROP_MARK}  {c.campaign_id}: {c.from_stage}→{c.to_stage} {percent(c.rate)} "
            f"over the last {c.window_minutes} min ({c.from_events:,} {c.from_stage} events), "
            f"baseline {percent(c.baseline)}",
            style="bold red",
        )
        for c in drops
    ]


def _clock(epoch: int, same_day_as: int | None = None) -> str:
    """UTC date and time of ``epoch``; the date is left out on the day of ``same_day_as``."""
    at = datetime.fromtimestamp(epoch, UTC)
    if same_day_as and at.date() == datetime.fromtimestamp(same_day_as, UTC).date():
        return at.strftime("%H:%M UTC")
    return at.strftime("%Y-%m-%d %H:%M UTC")
