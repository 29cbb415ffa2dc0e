"""The rollup's progress: how minutes become dirty, what span a roll recomputes, and
that each step writes its progress row after the rows it describes (a fake client
records the statements)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from funnelwatch.processors.rollup.progress import PROGRESS, Progress, after_minutes, roll
from funnelwatch.schemas.funnel import load_funnel

FUNNEL = load_funnel()
M = 1_795_910_400  # a whole minute


class RecordingClient:
    version = (26, 9)

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        if sql.lstrip().startswith("SELECT"):  # a read (the campaigns a roll spans)
            return [(1,)]
        table = "kpi_minute" if "INSERT INTO kpi_minute" in sql else "conversion_rolling"
        self.log.append((table, dict(params or {})))
        return []

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.log.append((table, [dict(zip(columns, row, strict=True)) for row in rows]))

    def close(self) -> None:
        pass


def test_new_minutes_widen_the_dirty_span_and_move_the_watermark() -> None:
    clean = Progress(watermark=M + 600, rolled_until=M + 600, dirty_from=0)
    assert clean.pending == 0
    dirty = clean.with_minutes({M + 900, M + 660})
    assert dirty == Progress(M + 900, M + 600, M + 660) and dirty.pending == 1
    # a late event reopens an older minute; the watermark never goes back
    assert dirty.with_minutes({M}) == Progress(M + 900, M + 600, M)
    assert dirty.with_minutes({M + 780}) == dirty


def test_after_minutes_recomputes_those_minutes_then_records_them_dirty() -> None:
    client = RecordingClient()
    done = after_minutes(client, Progress(M, M, 0), {M + 120, M + 60})
    assert done == Progress(M + 120, M, M + 60)
    (table, params), (progress_table, rows) = client.log
    assert table == "kpi_minute" and params["minutes"] == (M + 60, M + 120)
    assert progress_table == "sink_progress"
    assert [(r["name"], r["watermark"], r["rolled_until"], r["dirty_from"]) for r in rows] == [
        (PROGRESS, M + 120, M, M + 60)
    ]


def test_a_roll_with_nothing_dirty_writes_nothing() -> None:
    client = RecordingClient()
    clean = Progress(M, M, 0)
    assert roll(client, FUNNEL, (15,), clean) is clean
    assert client.log == []


def test_a_roll_recomputes_from_the_first_dirty_minute_to_the_watermark() -> None:
    client = RecordingClient()
    done = roll(client, FUNNEL, (15, 60), Progress(M + 3000, M + 2400, M + 600))
    assert done == Progress(M + 3000, M + 3000, 0)
    rolls = [p for t, p in client.log if t == "conversion_rolling"]
    assert [(p["window"], p["lo"], p["hi"], p["dim"]) for p in rolls] == [
        (15, M + 600, M + 3000, "all"),
        (60, M + 600, M + 3000, "all"),
    ]
    assert client.log[-1][0] == "sink_progress"  # after the rows it describes


def test_a_roll_also_covers_minutes_between_the_last_roll_and_the_dirty_span() -> None:
    client = RecordingClient()
    roll(client, FUNNEL, (15,), Progress(M + 3000, M, M + 1200))
    ((_, params),) = [e for e in client.log if e[0] == "conversion_rolling"]
    assert (params["lo"], params["hi"]) == (M + 60, M + 3000)
