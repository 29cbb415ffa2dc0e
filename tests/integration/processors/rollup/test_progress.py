"""The rollup's progress row on both backends: per-minute recomputes mark minutes dirty,
a roll clears them, and a roll left pending survives a restart of the roller."""

from __future__ import annotations

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.rollup import recompute
from funnelwatch.processors.rollup.offline import load_facts
from funnelwatch.processors.rollup.progress import Progress, after_minutes, read_progress, roll
from funnelwatch.schemas.funnel import load_funnel
from tests.integration.processors.rollup.tables import batch, tables
from tests.support.clickhouse import BASE, fact, write_facts

pytestmark = pytest.mark.integration

FUNNEL = load_funnel()
WINDOWS = (15, 60)


def test_an_empty_database_has_nothing_pending(client: ClickHouse) -> None:
    assert read_progress(client) == Progress(0, 0, 0)


def test_minutes_recomputed_are_dirty_until_the_roll(client: ClickHouse) -> None:
    facts = batch()
    write_facts(client, facts)
    minutes = {f.minute for f in facts}
    dirty = after_minutes(client, read_progress(client), minutes)
    assert dirty == Progress(max(minutes), 0, min(minutes))
    assert read_progress(client) == dirty  # durable, not only returned
    assert tables(client)[1] == set()  # rolling conversions wait for the roll

    rolled = roll(client, FUNNEL, WINDOWS, read_progress(client))
    assert rolled == Progress(max(minutes), max(minutes), 0)
    assert read_progress(client) == rolled
    assert tables(client)[1]


def test_a_roll_left_pending_is_done_after_a_restart(client: ClickHouse) -> None:
    load_facts(client, batch(), FUNNEL, WINDOWS)
    want = tables(client)
    for table in ("funnel_facts", "kpi_minute", "conversion_rolling", "sink_progress"):
        client.execute(f"TRUNCATE TABLE {table}")
    write_facts(client, batch())
    # a roller that recomputed the minutes and died before rolling
    after_minutes(client, read_progress(client), {f.minute for f in batch()})
    assert tables(client) != want
    # the next roller reads the pending span from ClickHouse and rolls it
    roll(client, FUNNEL, WINDOWS, read_progress(client))
    assert tables(client) == want


def test_rolling_recompute_in_chunks_writes_the_rows_of_one_pass(
    client: ClickHouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_facts(client, batch(), FUNNEL, WINDOWS)
    whole = tables(client)[1]
    client.execute("TRUNCATE TABLE conversion_rolling")
    # one pass rolled minutes 0..19 in one query; 7-minute chunks take three
    monkeypatch.setattr(recompute, "ROLL_CHUNK_MINUTES", 7)
    recompute.recompute_rolling(client, FUNNEL, WINDOWS, BASE, BASE + 19 * 60)
    assert tables(client)[1] == whole


def test_rolling_recompute_split_by_campaign_writes_the_rows_of_one_pass(
    client: ClickHouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaigns = [fact(5000 + i, "click", i % 7, campaign=f"C{i % 5}") for i in range(60)]
    load_facts(client, [*batch(), *campaigns], FUNNEL, WINDOWS)
    whole = tables(client)[1]
    assert len({row[1] for row in whole}) == 6  # several campaigns to split
    client.execute("TRUNCATE TABLE conversion_rolling")
    # so few cells a query that each campaign hash part is a query of its own
    monkeypatch.setattr(recompute, "ROLL_MAX_CELLS", 10)
    recompute.recompute_rolling(client, FUNNEL, WINDOWS, BASE, BASE + 19 * 60)
    assert tables(client)[1] == whole
