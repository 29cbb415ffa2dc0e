"""``rollup.offline.load_facts`` on both backends: the KPIs it derives equal an independent
sum over the facts, replays change nothing, a crash between facts and KPIs is repaired
by the replay, re-attribution moves counts, versions decide."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.attribution.facts import Fact
from funnelwatch.processors.rollup.offline import load_facts
from funnelwatch.schemas.funnel import load_funnel
from tests.integration.processors.rollup.tables import batch, kpi_rows, tables
from tests.support.clickhouse import BASE, fact, write_facts
from tests.support.simulated_kpis import Simulation, simulated_facts

pytestmark = pytest.mark.integration

FUNNEL = load_funnel()
WINDOWS = (15, 60)


def independent_kpis(facts: Sequence[Fact]) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """Per (minute, campaign, dim, value, stage): counted facts, cost and revenue, of the
    newest version of each (minute, stage, event_id)."""
    newest: dict[tuple[int, str, str], Fact] = {}
    for f in facts:
        key = (f.minute, f.stage, f.event_id)
        if key not in newest or newest[key].version < f.version:
            newest[key] = f
    sums: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for f in newest.values():
        if not f.counted:
            continue
        for dim, value in [("all", "all"), *zip(f.dim_names, f.dim_values, strict=True)]:
            row = sums[(f.minute, f.campaign_id, dim, value, f.stage)]
            row[0] += 1
            row[1] += f.cost_micros
            row[2] += f.revenue_micros
    return {k: (v[0], v[1], v[2]) for k, v in sums.items()}


def mixed_facts() -> list[Fact]:
    """Facts of several campaigns and segments: uncounted ones, revenue, and a lead
    re-attributed by a later version (its older version must not count)."""
    facts = [
        fact(i, "click", i % 7, campaign="AB"[i % 2], cost_micros=100_000 * (i % 5 + 1),
             device=("mobile", "desktop", "tablet")[i % 3], geo=("DE", "FR")[i % 2],
             channel=("google", "bing")[i % 2], ad_group_id=f"ag{i % 4}")
        for i in range(120)
    ]  # fmt: skip
    facts += [fact(500 + i, "lead", i % 7, campaign="AB"[i % 2], lead_id=f"L{i}",
                   counted=int(i % 4 != 0)) for i in range(30)]  # fmt: skip
    facts += [fact(700 + i, "won", i % 7, revenue_micros=5_000_000 + i, lead_id=f"L{i}")
              for i in range(4)]  # fmt: skip
    facts.append(fact(900, "lead", 3, campaign="(unattributed)", attribution="none", version=1))
    facts.append(fact(900, "lead", 3, campaign="B", version=2))
    return facts


def test_kpi_minute_equals_an_independent_sum_over_the_facts(client: ClickHouse) -> None:
    facts = mixed_facts()
    load_facts(client, facts, FUNNEL, WINDOWS)
    got = {k: v for k, v in kpi_rows(client).items() if v != (0, 0, 0)}
    assert got == independent_kpis(facts)


def test_kpi_minute_of_simulated_traffic_equals_an_independent_sum(client: ClickHouse) -> None:
    sim = Simulation(start=BASE, minutes=30, campaigns=3, clicks_per_minute=20)
    facts = simulated_facts(sim)
    assert {f.stage for f in facts} >= {"click", "lead"}
    for i in range(0, len(facts), 400):  # several loads, as batches arrive
        load_facts(client, facts[i : i + 400], FUNNEL, WINDOWS)
    got = {k: v for k, v in kpi_rows(client).items() if v != (0, 0, 0)}
    assert got == independent_kpis(facts)


def test_replayed_facts_leave_every_table_unchanged(client: ClickHouse) -> None:
    load_facts(client, batch(), FUNNEL, WINDOWS)
    first = tables(client)
    load_facts(client, batch(), FUNNEL, WINDOWS)
    assert tables(client) == first
    kpi, rolling = first
    assert (BASE, "A", "all", "all", "click", 10, 10_000_000, 0) in kpi
    assert (BASE + 19 * 60, "A", "all", "all", 15, "click", "lead", 150, 2) in rolling


def test_facts_written_without_their_kpis_are_repaired_by_the_replay(client: ClickHouse) -> None:
    load_facts(client, batch(), FUNNEL, WINDOWS)
    want = tables(client)
    for table in ("funnel_facts", "kpi_minute", "conversion_rolling", "sink_progress"):
        client.execute(f"TRUNCATE TABLE {table}")
    # what a crash after the hot path's fact write leaves: facts, no KPIs
    write_facts(client, batch())
    assert tables(client) == (set(), set())
    load_facts(client, batch(), FUNNEL, WINDOWS)
    assert tables(client) == want


def test_reattributed_fact_moves_its_count_and_leaves_zero_behind(client: ClickHouse) -> None:
    load_facts(client, [fact(1, "lead", 3, campaign="(unattributed)", version=1)], FUNNEL, WINDOWS)
    load_facts(client, [fact(1, "lead", 3, campaign="B", version=2)], FUNNEL, WINDOWS)
    leads = client.execute(
        "SELECT campaign_id, events FROM kpi_minute FINAL WHERE dim = 'all' AND stage = 'lead' "
        "ORDER BY campaign_id"
    )
    assert [tuple(r) for r in leads] == [("(unattributed)", 0), ("B", 1)]


def test_older_version_arriving_late_does_not_undo_a_newer_one(client: ClickHouse) -> None:
    load_facts(client, [fact(1, "lead", 3, campaign="B", version=2)], FUNNEL, WINDOWS)
    load_facts(client, [fact(1, "lead", 3, campaign="(unattributed)", version=1)], FUNNEL, WINDOWS)
    leads = client.execute(
        "SELECT campaign_id FROM kpi_minute FINAL WHERE dim='all' AND stage='lead' AND events > 0"
    )
    assert [r[0] for r in leads] == ["B"]


def test_rolling_rows_cover_minutes_between_batches_without_facts(client: ClickHouse) -> None:
    load_facts(client, [fact(1, "click", 0)], FUNNEL, WINDOWS)
    load_facts(client, [fact(2, "click", 10)], FUNNEL, WINDOWS)  # nothing in minutes 1..9
    minutes = {
        int(r[0]) - BASE
        for r in client.execute(
            "SELECT toUInt32(minute) FROM conversion_rolling FINAL "
            "WHERE window_minutes = 15 AND dim = 'all'"
        )
    }
    assert minutes == {m * 60 for m in range(11)}


def test_rolling_conversions_are_kept_for_whole_campaigns_only(client: ClickHouse) -> None:
    load_facts(client, mixed_facts(), FUNNEL, WINDOWS)
    dims = client.execute("SELECT DISTINCT dim, dim_value FROM conversion_rolling")
    assert [tuple(r) for r in dims] == [("all", "all")]
    kpi_dims = {str(r[0]) for r in client.execute("SELECT DISTINCT dim FROM kpi_minute")}
    assert kpi_dims == {"all", "channel", "ad_group", "device", "geo"}
