"""The ClickHouse sink on both backends: idempotent writes, repair by replay, re-attribution."""

from __future__ import annotations

from typing import Any

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors import rollup
from funnelwatch.processors.facts import FACT_COLUMNS, Fact, fact_row
from funnelwatch.processors.sink import FactSink
from funnelwatch.schemas.funnel import load_funnel
from tests.support.clickhouse import BASE, fact, fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
def client(clickhouse_url: str, request: pytest.FixtureRequest) -> Any:
    c = fresh_database(clickhouse_url, f"sink_{request.node.name.split('[')[0][-40:]}")
    yield c
    c.close()


def tables(c: ClickHouse) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    kpi = set(
        c.execute(
            "SELECT toUInt32(minute), campaign_id, dim, dim_value, stage, events, cost_micros "
            "FROM kpi_minute FINAL WHERE events > 0"
        )
    )
    rolling = set(
        c.execute(
            "SELECT toUInt32(minute), campaign_id, dim, dim_value, window_minutes, from_stage, "
            "to_stage, from_events, to_events FROM conversion_rolling FINAL "
            "WHERE from_events + to_events > 0"
        )
    )
    return kpi, rolling


def _raise(exc: Exception) -> None:
    raise exc


def truncate_all(c: ClickHouse) -> None:
    for table in ("funnel_facts", "kpi_minute", "conversion_rolling", "sink_progress"):
        c.execute(f"TRUNCATE TABLE {table}")


def sink(c: ClickHouse) -> FactSink:
    # on_fatal: raise in the test instead of ending the process as the worker does
    return FactSink(lambda: c, load_funnel(), (15, 60), roll_interval=0, on_fatal=_raise)


def batch() -> list[Fact]:
    clicks = [fact(i, "click", i % 20, cost_micros=1_000_000) for i in range(200)]
    return [*clicks, *(fact(1000 + i, "lead", i * 2) for i in range(5))]


def test_replayed_batch_leaves_every_table_unchanged(client: ClickHouse) -> None:
    sink(client).flush(batch())
    first = tables(client)
    sink(client).flush(batch())
    assert tables(client) == first
    kpi, rolling = first
    assert (BASE, "A", "all", "all", "click", 10, 10_000_000) in kpi
    assert (BASE + 19 * 60, "A", "all", "all", 15, "click", "lead", 150, 2) in rolling


def test_crash_after_facts_before_rollup_is_repaired_by_the_replay(client: ClickHouse) -> None:
    reference = sink(client)
    reference.flush(batch())
    want = tables(client)
    truncate_all(client)
    # what a worker killed between its two writes leaves behind: facts, no KPIs
    client.insert("funnel_facts", FACT_COLUMNS, [fact_row(f) for f in batch()])
    sink(client).flush(batch())
    assert tables(client) == want


def test_reattributed_fact_moves_its_count_and_leaves_zero_behind(client: ClickHouse) -> None:
    s = sink(client)
    s.flush([fact(1, "lead", 3, campaign="(unattributed)", version=1)])
    s.flush([fact(1, "lead", 3, campaign="B", version=2)])
    leads = client.execute(
        "SELECT campaign_id, events FROM kpi_minute FINAL WHERE dim = 'all' AND stage = 'lead' "
        "ORDER BY campaign_id"
    )
    assert [tuple(r) for r in leads] == [("(unattributed)", 0), ("B", 1)]


def test_older_version_arriving_late_does_not_undo_a_newer_one(client: ClickHouse) -> None:
    s = sink(client)
    s.flush([fact(1, "lead", 3, campaign="B", version=2)])
    s.flush([fact(1, "lead", 3, campaign="(unattributed)", version=1)])
    leads = client.execute(
        "SELECT campaign_id FROM kpi_minute FINAL WHERE dim='all' AND stage='lead' AND events > 0"
    )
    assert [r[0] for r in leads] == ["B"]


def test_rolling_rows_cover_minutes_between_batches_without_facts(client: ClickHouse) -> None:
    s = sink(client)
    s.flush([fact(1, "click", 0)])
    s.flush([fact(2, "click", 10)])  # nothing in minutes 1..9: rows must still exist there
    minutes = {
        r[0] - BASE
        for r in client.execute(
            "SELECT toUInt32(minute) FROM conversion_rolling FINAL "
            "WHERE window_minutes = 15 AND dim = 'all'"
        )
    }
    assert minutes == {m * 60 for m in range(11)}


def test_deferred_roll_survives_a_restart_of_the_sink(client: ClickHouse) -> None:
    eager = sink(client)
    eager.flush(batch())
    want = tables(client)
    truncate_all(client)
    lazy = FactSink(lambda: client, load_funnel(), (15, 60), roll_interval=3600, on_fatal=_raise)
    lazy.flush(batch()[:100])  # the first flush of a sink rolls; the next waits
    lazy.flush(batch())
    assert tables(client) != want, "the second flush should have left rolling pending"
    restarted = FactSink(
        lambda: client, load_funnel(), (15, 60), roll_interval=3600, on_fatal=_raise
    )
    restarted.roll_if_due()  # what the worker's idle timer does after a restart
    assert tables(client) == want


def test_rolling_recompute_in_chunks_writes_the_rows_of_one_pass(
    client: ClickHouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink(client).flush(batch())
    whole = tables(client)[1]
    client.execute("TRUNCATE TABLE conversion_rolling")
    # the flush rolled minutes 0..19 in one query; 7-minute chunks take three
    monkeypatch.setattr(rollup, "ROLL_CHUNK_MINUTES", 7)
    rollup.recompute_rolling(client, load_funnel(), (15, 60), BASE, BASE + 19 * 60)
    assert tables(client)[1] == whole
