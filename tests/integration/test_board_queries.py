"""The board's queries against a real (embedded) ClickHouse, fed by the rollup's own statements.

Two campaigns run for 40 minutes with the same traffic; the forms of ``cmp-broken``
stop sending leads at minute 25, as when a landing page breaks mid-campaign.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from rich.console import Console

from funnelwatch.clickhouse import ClickHouse, connect
from funnelwatch.demo.board import Board, conversion_dropped, render_board
from funnelwatch.demo.queries import campaign_funnels, kpis, latest_conversions
from funnelwatch.processors.attribution.facts import Fact
from funnelwatch.processors.rollup.offline import load_facts
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.schemas.migrate import migrate
from tests.support.clickhouse import make_fact

pytestmark = pytest.mark.integration

T0 = 1_793_527_200  # 2026-11-01 10:00 UTC, a minute boundary
MINUTES = 40
BREAK_AT = 25  # cmp-broken has no leads from this minute on
CLICKS_PER_MINUTE = 10
LEADS_PER_MINUTE = 2  # 20 % click -> lead
CPC_MICROS = {"cmp-ok": 500_000, "cmp-broken": 1_000_000}
DEAL_MICROS = 2_000_000_000
STAGES = load_funnel().stage_names


def fact(campaign: str, minute: int, stage: str, n: int, **money: int) -> Fact:
    t = T0 + minute * 60
    return make_fact(
        t,
        stage,
        f"{campaign}/{minute}/{stage}/{n}",
        campaign,
        event_time_ms=t * 1000 + n,
        ad_group_id="ag-1",
        lead_id=f"{campaign}/{minute}/{n}",
        click_id=f"{campaign}/{minute}/k{n}",
        cost_micros=money.get("cost", 0),
        revenue_micros=money.get("revenue", 0),
        source_topic="facts",
    )


def facts_of_minute(minute: int) -> list[Fact]:
    out = []
    for campaign, cpc in CPC_MICROS.items():
        out += [fact(campaign, minute, "click", n, cost=cpc) for n in range(CLICKS_PER_MINUTE)]
        if campaign == "cmp-ok" or minute < BREAK_AT:
            out += [fact(campaign, minute, "lead", n) for n in range(LEADS_PER_MINUTE)]
            out.append(fact(campaign, minute, "contacted", 0))
        if campaign == "cmp-ok" and minute % 5 == 0:
            out.append(fact(campaign, minute, "qualified", 0))
        if campaign == "cmp-ok" and minute == 30:
            out.append(fact(campaign, minute, "won", 0, revenue=DEAL_MICROS))
    return out


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    path: Path = tmp_path_factory.mktemp("board-chdb")
    ch = connect("chdb://" + str(path))
    migrate(ch)
    # Several batches, so the incremental rolling recomputation is what we read.
    for start in range(0, MINUTES, 10):
        batch = [f for m in range(start, start + 10) for f in facts_of_minute(m)]
        load_facts(ch, batch, load_funnel(), (15, 60, 1440))
    yield ch
    ch.close()


def test_campaign_funnels_count_stages_and_money_per_campaign(client: ClickHouse) -> None:
    funnels = {f.campaign_id: f for f in campaign_funnels(client, since_epoch=0)}

    assert sorted(funnels) == ["cmp-broken", "cmp-ok"]
    ok, broken = funnels["cmp-ok"], funnels["cmp-broken"]
    assert [ok.count(s) for s in STAGES] == [400, 80, 40, 8, 1]
    assert [broken.count(s) for s in STAGES] == [400, 50, 25, 0, 0]
    assert (ok.spend_micros, ok.revenue_micros) == (200_000_000, DEAL_MICROS)
    assert (broken.spend_micros, broken.revenue_micros) == (400_000_000, 0)
    assert ok.newest_minute == broken.newest_minute == T0 + 39 * 60


def test_campaign_funnels_count_only_minutes_since_the_given_time(client: ClickHouse) -> None:
    funnels = {f.campaign_id: f for f in campaign_funnels(client, since_epoch=T0 + 30 * 60)}

    assert [funnels["cmp-ok"].count(s) for s in STAGES] == [100, 20, 10, 2, 1]
    assert funnels["cmp-broken"].count("lead") == 0
    assert funnels["cmp-broken"].spend_micros == 100 * 1_000_000


def test_kpis_of_a_campaign_divide_spend_by_each_stage(client: ClickHouse) -> None:
    funnels = {f.campaign_id: f for f in campaign_funnels(client, since_epoch=0)}

    ok = kpis(funnels["cmp-ok"], STAGES)
    assert (ok.cpc_micros, ok.cpl_micros) == (500_000, 2_500_000)
    assert (ok.cost_per_qualified_micros, ok.cac_micros) == (25_000_000, 200_000_000)
    assert ok.romi == pytest.approx(9.0)
    broken = kpis(funnels["cmp-broken"], STAGES)
    assert (broken.cost_per_qualified_micros, broken.cac_micros, broken.romi) == (None, None, -1)


def test_latest_conversions_read_the_window_ending_at_the_newest_minute(
    client: ClickHouse,
) -> None:
    conv = {(c.campaign_id, c.from_stage): c for c in latest_conversions(client, 15)}

    ok, broken = conv[("cmp-ok", "click")], conv[("cmp-broken", "click")]
    assert (ok.to_stage, ok.minute, ok.window_minutes) == ("lead", T0 + 39 * 60, 15)
    assert (ok.from_events, ok.to_events) == (150, 30)
    assert (broken.from_events, broken.to_events) == (150, 0)
    # The baseline is the day before the current window: minutes 0..24, all healthy.
    assert ok.baseline == broken.baseline == pytest.approx(0.2)
    assert conv[("cmp-ok", "lead")].rate == pytest.approx(15 / 30)
    assert conv[("cmp-broken", "lead")].rate is None  # no leads in the window: no ratio


def test_conversion_history_shows_the_decline_minute_by_minute(client: ClickHouse) -> None:
    conv = {(c.campaign_id, c.from_stage): c for c in latest_conversions(client, 15)}

    ok, broken = conv[("cmp-ok", "click")].history, conv[("cmp-broken", "click")].history
    assert len(ok) == len(broken) == 30  # minutes 10..39, oldest first
    assert ok == pytest.approx([0.2] * 30)
    assert broken[: BREAK_AT - 10] == pytest.approx([0.2] * (BREAK_AT - 10))
    # minute 30: the window 16..30 holds leads of minutes 16..24 only
    assert broken[30 - 10] == pytest.approx(9 * LEADS_PER_MINUTE / 150)
    assert broken[-1] == 0
    tail = broken[BREAK_AT - 10 :]
    assert all(a is not None and b is not None and a >= b for a, b in pairwise(tail))


def test_board_marks_campaign_whose_forms_stopped(client: ClickHouse) -> None:
    snapshot = Board(client).poll()

    dropped = {c.campaign_id for c in snapshot.conversions if conversion_dropped(c)}
    assert dropped == {"cmp-broken"}
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(render_board(snapshot, events_per_second=42.0))
    text = console.export_text()
    assert "▼ cmp-broken" in text
    assert "▼ conversion drop  cmp-broken: click→lead 0.0%" in text
    assert "▼ cmp-ok" not in text and "drop  cmp-ok" not in text
    assert "data up to 2026-11-01 10:39 UTC" in text and "42 events/s" in text
