"""The detector service on both ClickHouse backends: closed minutes in, alerts out,
restart without re-firing, matured cohorts of a deeper stage."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.alerting import store
from funnelwatch.processors.alerting.service import HOPS, DetectorService
from funnelwatch.processors.detectors import DetectorConfig
from funnelwatch.processors.rollup.offline import load_facts
from funnelwatch.schemas.funnel import load_funnel
from tests.support.clickhouse import BASE, fact, fresh_database

pytestmark = pytest.mark.integration

CONFIG = replace(DetectorConfig(), min_baseline_successes=20.0, false_alarm_budget_days=0.0)


@pytest.fixture
def client(clickhouse_url: str, request: pytest.FixtureRequest) -> Any:
    c = fresh_database(clickhouse_url, f"det_{request.node.name.split('[')[0][-40:]}")
    yield c
    c.close()


def write(c: ClickHouse, first: int, last: int, leads_until: int, leads_from: int = 10**9) -> None:
    """20 clicks a minute; one lead a minute while minute < leads_until or >= leads_from."""
    facts = []
    for m in range(first, last):
        facts += [fact(m * 100 + i, "click", m, cost_micros=500_000) for i in range(20)]
        if m < leads_until or m >= leads_from:
            facts.append(fact(10**7 + m, "lead", m, lead_id=f"L{m}"))
    load_facts(c, facts, load_funnel(), (15,))


class Clock:
    """Wall-clock time, moved on by the test (facts written are 'settled' at once)."""

    def __init__(self) -> None:
        self.now = time.time() + 60

    def __call__(self) -> float:
        return self.now


def service(clock: Clock) -> DetectorService:
    return DetectorService(CONFIG, load_funnel(), 2, 24, 120, settle_seconds=20, clock=clock)


def test_stall_is_alerted_once_survives_a_restart_and_resolves(client: ClickHouse) -> None:
    write(client, 0, 400, leads_until=300)
    clock = Clock()
    detectors = service(clock)
    # leads stopped everywhere: the detectors wait for them (they may only lag) ...
    assert detectors.step(client) == []
    assert store.load_cursor(client) == BASE + 297 * 60
    # ... until the lead stage has stood still for two minutes while clicks went on
    clock.now += 121
    first = detectors.step(client)
    assert [(a.kind, a.status, a.campaign_id) for a in first] == [("stall", "firing", "A")]
    alert = first[0]
    assert alert.started_at == BASE + 300 * 60
    assert store.load_cursor(client) == BASE + 397 * 60  # watermark 399, grace 2
    # a restart: replays history, restores the open alert, fires nothing again
    restarted = service(clock)
    assert restarted.step(client) == []
    assert restarted.tracker.open[alert.key].alert.alert_id == alert.alert_id
    # leads come back: the same alert resolves
    write(client, 400, 430, leads_until=0, leads_from=400)
    clock.now = time.time() + 60
    resolved = restarted.step(client)
    assert [(a.alert_id, a.status) for a in resolved] == [(alert.alert_id, "resolved")]
    rows = client.execute(
        "SELECT alert_id, kind, status, campaign_id, from_stage, to_stage, segments, "
        "toUInt32(started_at), leads_lost FROM alerts FINAL"
    )
    assert len(rows) == 1
    alert_id, kind, status, campaign, a, b, segments, started, lost = rows[0]
    assert (alert_id, kind, status, campaign, a, b) == (alert.alert_id, "stall", "resolved",
                                                        "A", "click", "lead")  # fmt: skip
    assert "all=all" in json.loads(segments) and int(started) == BASE + 300 * 60
    assert 90 <= float(lost) <= 110  # one lead a minute for ~100 minutes
    # the delivery outbox reads the latest state of recent alerts
    outbox = store.recent_alerts(client, BASE)
    assert [(a.alert_id, a.status, a.segments) for a in outbox] == [
        (alert.alert_id, "resolved", tuple(json.loads(segments)))
    ]
    assert store.open_alerts(client) == []


def test_deliveries_are_recorded_and_read_back(client: ClickHouse) -> None:
    store.record_delivery(client, "a1", "firing", "webhook", BASE)
    store.record_delivery(client, "a1", "firing", "webhook", BASE)
    assert store.delivered(client) == {("a1", "firing", "webhook")}


def test_matured_cohorts_count_who_reached_the_next_stage_within_the_maturity(
    client: ClickHouse,
) -> None:
    facts = []
    for i in range(60):  # one lead a minute in the first hour
        facts.append(fact(i, "lead", i, lead_id=f"L{i}"))
        if i % 3 == 0:  # a third contacted 30 minutes later, one more far too late
            facts.append(fact(1000 + i, "contacted", i + 30, lead_id=f"L{i}"))
    facts.append(fact(2000, "contacted", 60 * 20, lead_id="L1"))
    load_facts(client, facts, load_funnel(), (15,))
    cohorts = list(store.read_cohorts(client, BASE, BASE + 3600, "lead", "contacted", 12 * 3600))
    assert [(o.minute, o.campaign_id, o.trials, o.successes) for o in cohorts] == [
        (BASE, "A", 60, 20)
    ]


def test_minutes_still_being_rewritten_wait_until_they_settle(client: ClickHouse) -> None:
    write(client, 0, 100, leads_until=100)
    clock = Clock()
    detectors = service(clock)
    detectors.step(client)  # first start: warm-up over what is there
    write(client, 100, 120, leads_until=120)
    clock.now = time.time()  # the minutes 100..119 were written just now
    detectors.step(client)
    assert detectors.cursor == BASE + 97 * 60
    clock.now = time.time() + 21
    detectors.step(client)
    assert detectors.cursor == BASE + 117 * 60


def test_a_backlog_holds_judging_until_the_pipeline_caught_up_for_every_hop(
    client: ClickHouse,
) -> None:
    # a minute looks complete in ClickHouse, but Kafka still holds a backlog
    write(client, 0, 400, leads_until=400)
    clock = Clock()
    detectors = service(clock)
    assert detectors.step(client, caught_up=False) == []
    assert detectors.cursor is None and store.load_cursor(client) == 0
    for _ in range(HOPS - 1):
        detectors.step(client, caught_up=True)
        assert store.load_cursor(client) == 0
    # caught up once per hop since the watermark was read: it is certain
    detectors.step(client, caught_up=True)
    assert store.load_cursor(client) == BASE + 397 * 60
    # a new backlog: later minutes wait again
    write(client, 400, 430, leads_until=430)
    clock.now = time.time() + 60
    detectors.step(client, caught_up=False)
    detectors.step(client, caught_up=True)
    assert store.load_cursor(client) == BASE + 397 * 60
