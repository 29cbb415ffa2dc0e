"""The API's and the bid advisor's SQL on both backends (chDB and ClickHouse 18.16)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from funnelwatch.clickhouse import ClickHouse, connect
from funnelwatch.processors.alerting.store import ALERT_COLUMNS
from funnelwatch.processors.bid_advisor import BidAdvisor
from funnelwatch.processors.web import queries
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.schemas.migrate import migrate
from funnelwatch.settings import Settings
from tests.support.clickhouse import click_lead_alert_row

pytestmark = pytest.mark.integration
END = 1_795_910_400  # a whole minute: the watermark of these tests
KPI = (
    "minute",
    "campaign_id",
    "dim",
    "dim_value",
    "stage",
    "events",
    "cost_micros",
    "revenue_micros",
    "version",
)


@pytest.fixture
def client(clickhouse_url: str, request: pytest.FixtureRequest) -> Iterator[ClickHouse]:
    c = connect(clickhouse_url)
    if clickhouse_url.startswith("clickhouse://"):
        db = f"webq_{request.node.name.split('[')[0][-40:]}".replace("-", "_")
        c.execute(f"DROP DATABASE IF EXISTS {db}")
        c.execute(f"CREATE DATABASE {db}")
        c.close()
        c = connect(clickhouse_url.rsplit("/", 1)[0] + "/" + db)
    migrate(c)
    c.insert(
        "sink_progress",
        ("name", "watermark", "rolled_until", "dirty_from", "version"),
        [("rolling", END - 600, 0, 0, 1), ("rolling", END, END, 0, 2)],
    )
    yield c
    c.close()


def kpi(
    minutes_ago: int,
    stage: str,
    events: int,
    cost: int = 0,
    version: int = 1,
    campaign: str = "A",
    dim: str = "all",
    value: str = "all",
) -> tuple[Any, ...]:
    return (END - 60 * minutes_ago, campaign, dim, value, stage, events, cost, 0, version)


def test_window_counts_take_the_newest_version_and_split_window_from_baseline(
    client: ClickHouse,
) -> None:
    client.insert(
        "kpi_minute",
        KPI,
        [
            kpi(0, "click", 5, 500, version=1),
            kpi(0, "click", 7, 700, version=2),  # rewritten
            kpi(14, "click", 3, 300),
            kpi(14, "lead", 1),
            kpi(15, "click", 100, 10_000),
            kpi(15, "lead", 10),  # just outside 15m: baseline
            kpi(15 + 7 * 1440, "click", 1000),  # older than the baseline's 7 days
            kpi(-1, "click", 50),  # after the watermark
            kpi(0, "click", 9, campaign="B"),
            kpi(0, "click", 4, dim="channel", value="google"),
        ],
    )
    assert queries.watermark(client) == END
    [seg] = queries.window_counts(client, "A", "all", END, 15)
    assert (seg.value, seg.events, seg.spend_micros) == ("all", {"click": 10, "lead": 1}, 1000)
    assert seg.baseline_events == {"click": 100, "lead": 10}
    [google] = queries.window_counts(client, "A", "channel", END, 15)
    assert (google.value, google.events) == ("google", {"click": 4})
    assert queries.campaigns(client) == [("A", END + 60), ("B", END)]
    assert queries.campaign_exists(client, "B")
    assert not queries.campaign_exists(client, "nobody")


def test_conversion_history_samples_the_newest_versions(client: ClickHouse) -> None:
    cols = (
        "minute",
        "campaign_id",
        "dim",
        "dim_value",
        "window_minutes",
        "from_stage",
        "to_stage",
        "from_events",
        "to_events",
        "version",
    )
    rows = [
        (END - 60 * i, "A", "all", "all", 15, "click", "lead", 100 + i, i, 1) for i in range(0, 30)
    ]
    rows.append((END, "A", "all", "all", 15, "click", "lead", 500, 50, 2))
    rows.append((END, "A", "all", "all", 60, "click", "lead", 1, 1, 1))
    client.insert("conversion_rolling", cols, rows)
    got = queries.conversion_history(client, "A", 15, END, 1, 300)
    assert [r[2] for r in got] == [END - 300 * i for i in (5, 4, 3, 2, 1, 0)]
    assert got[-1] == ("click", "lead", END, 500, 50)
    assert got[0] == ("click", "lead", END - 1500, 125, 25)


def alert(alert_id: str, campaign: str, kind: str, status: str, version: int) -> tuple[Any, ...]:
    return click_lead_alert_row(
        alert_id,
        campaign,
        kind,
        status,
        END,
        baseline=0.1,
        leads_lost=3.5,
        summary="drop",
        version=version,
    )


def test_open_alerts_are_those_whose_newest_state_fires(client: ClickHouse) -> None:
    client.insert(
        "alerts",
        ALERT_COLUMNS,
        [
            alert("a1", "A", "conversion_drop", "firing", 1),
            alert("a1", "A", "conversion_drop", "resolved", 2),
            alert("a2", "A", "stall", "firing", 1),
            alert("b1", "B", "conversion_drop", "firing", 1),
        ],
    )
    assert [a["alert_id"] for a in queries.open_alerts(client)] == ["a2", "b1"]
    [a2] = queries.open_alerts(client, "A")
    assert (a2["kind"], a2["segments"], a2["fired_at"], a2["leads_lost"]) == (
        "stall",
        ["all=all"],
        END - 240,
        3.5,
    )


def test_bid_advisor_judges_the_window_and_pauses_stalled_campaigns(client: ClickHouse) -> None:
    client.insert(
        "kpi_minute",
        KPI,
        [
            kpi(1, "click", 100, 60_000_000),
            kpi(1, "lead", 2),  # A: CPL 30
            kpi(1, "click", 100, 10_000_000, campaign="B"),
            kpi(1, "lead", 10, campaign="B"),
            kpi(90, "click", 1000, 1, campaign="B"),  # outside the 60-minute window
            kpi(1, "click", 100, 10_000_000, campaign="C"),
            kpi(1, "lead", 10, campaign="C"),
        ],
    )
    client.insert("alerts", ALERT_COLUMNS, [alert("s", "C", "stall", "firing", 1)])
    settings = Settings(
        bid_targets={
            "A": {"metric": "cpl", "target_micros": 10_000_000},
            "*": {"metric": "cpl", "target_micros": 1_000_000},
        },
        bid_window_minutes=60,
    )
    advisor = BidAdvisor(settings, load_funnel())
    recs = {r.campaign_id: r for r in advisor.evaluate(client, now=1000.0)}
    assert (recs["A"].action, recs["A"].multiplier, recs["A"].cost_per_result_micros) == (
        "lower",
        0.9,
        30_000_000,
    )
    assert (recs["B"].action, recs["B"].clicks, recs["B"].results) == ("hold", 100, 10)
    assert recs["C"].action == "pause"
    assert advisor.latest["A"] is recs["A"]
