"""The rollup's progress row in ClickHouse (``sink_progress``).

It names the newest event minute with per-minute KPIs (``watermark``), the minute
rolling conversions are computed up to, and the first minute whose KPIs changed since
(``dirty_from``, 0: none). :func:`after_minutes` and :func:`roll` are the two steps that
move it, each writing the progress row after the rows it describes. Only the roller
writes it, so no two writers overwrite each other's dirty range; a restarted roller
reads it and continues exactly where the last acknowledged write ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.schemas.funnel import Funnel
from funnelwatch.schemas.segments import BUILT_IN_SEGMENTS, SegmentSet

from .recompute import recompute_minutes, recompute_rolling
from .versions import new_version, saw_version

PROGRESS = "rolling"


@dataclass(frozen=True)
class Progress:
    watermark: int
    rolled_until: int
    dirty_from: int

    @property
    def pending(self) -> int:
        return 1 if self.dirty_from else 0

    def with_minutes(self, minutes: set[int]) -> Progress:
        """After the KPIs of these minutes changed."""
        dirty = min(minutes) if not self.dirty_from else min(self.dirty_from, *minutes)
        return Progress(max(self.watermark, *minutes), self.rolled_until, dirty)


def after_minutes(
    client: ClickHouse,
    progress: Progress,
    minutes: set[int],
    segments: SegmentSet = BUILT_IN_SEGMENTS,
) -> Progress:
    """Recompute the per-minute KPIs of these minutes and record them as dirty."""
    recompute_minutes(client, minutes, segments)
    done = progress.with_minutes(minutes)
    save_progress(client, done)
    return done


def roll(
    client: ClickHouse, funnel: Funnel, windows: tuple[int, ...], progress: Progress
) -> Progress:
    """Recompute the rolling conversions of the dirty span; returns the progress after."""
    if not progress.dirty_from:
        return progress
    lo = progress.dirty_from
    if progress.rolled_until:
        lo = min(lo, progress.rolled_until + 60)
    recompute_rolling(client, funnel, windows, lo, progress.watermark)
    done = Progress(progress.watermark, progress.watermark, 0)
    save_progress(client, done)
    return done


def read_progress(client: ClickHouse) -> Progress:
    rows = client.execute(
        "SELECT argMax(watermark, version), argMax(rolled_until, version), "
        "argMax(dirty_from, version), max(version) FROM sink_progress "
        "WHERE name = %(name)s",
        {"name": PROGRESS},
    )
    row = rows[0] if rows and rows[0][0] is not None else (0, 0, 0, 0)
    saw_version(int(row[3]))
    return Progress(int(row[0]), int(row[1]), int(row[2]))


def save_progress(client: ClickHouse, progress: Progress) -> None:
    client.insert(
        "sink_progress",
        ("name", "watermark", "rolled_until", "dirty_from", "version"),
        [(PROGRESS, progress.watermark, progress.rolled_until, progress.dirty_from,
          new_version())],
    )  # fmt: skip
