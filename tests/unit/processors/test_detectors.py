"""Detector logic on seeded synthetic minutes (no ClickHouse, no Kafka)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from funnelwatch.processors.detectors import (
    Alert,
    AlertTracker,
    DetectorBank,
    DetectorConfig,
    Observation,
)
from funnelwatch.processors.detectors.cost import CostMonitor

T0 = 1_795_910_400  # a whole hour
CFG = DetectorConfig()


def poisson(rng: random.Random, lam: float) -> int:
    limit, k, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def run(
    minutes: int,
    rate: Callable[[int], float],
    clicks_per_minute: float = 20.0,
    seed: int = 1,
    segment: tuple[str, str] = ("all", "all"),
    bank: DetectorBank | None = None,
    tracker: AlertTracker | None = None,
) -> list[tuple[int, Alert]]:
    """Feed ``minutes`` minutes of one campaign; ``rate(i)`` is the true conversion."""
    rng = random.Random(seed)
    bank = bank or DetectorBank(CFG)
    tracker = tracker or AlertTracker()
    out = []
    for i in range(minutes):
        n = poisson(rng, clicks_per_minute)
        k = sum(rng.random() < rate(i) for _ in range(n))
        obs = Observation(T0 + 60 * i, "cmp", *segment, "click", "lead", n, k, n * 1_000_000)
        events = [e for e in bank.observe(obs) if e.metric == "conversion"]
        out += [(i, a) for a in tracker.handle(events)]
    return out


WARM = 2 * 1440


def test_steady_conversion_raises_no_alert_in_three_days() -> None:
    assert run(3 * 1440, lambda i: 0.05) == []


def test_total_stop_of_leads_fires_one_stall_alert_soon_after_onset_and_resolves() -> None:
    alerts = run(WARM + 240, lambda i: 0.0 if WARM <= i < WARM + 120 else 0.05)
    assert [(a.status, a.kind) for _, a in alerts] == [("firing", "stall"), ("resolved", "stall")]
    (fired, first), (resolved, last) = alerts
    # 20 clicks a minute: at most ~300 clicks (15 minutes) after the onset
    assert WARM <= fired <= WARM + 15
    assert abs(first.started_at - (T0 + 60 * WARM)) <= 5 * 60
    assert first.baseline > 0.04 and first.current == 0.0
    assert WARM + 120 <= resolved <= WARM + 150
    assert last.leads_lost > 0.05 * 20 * 100  # ~120 minutes of lost leads at 1/minute


def test_thirty_percent_drop_fires_a_conversion_drop_and_resolves_after_recovery() -> None:
    drop = range(WARM, WARM + 240)
    alerts = run(WARM + 600, lambda i: 0.035 if i in drop else 0.05, 40.0, seed=3)
    kinds = [(a.status, a.kind) for _, a in alerts]
    assert kinds == [("firing", "conversion_drop"), ("resolved", "conversion_drop")]
    (fired, first), (resolved, _) = alerts
    assert WARM < fired < WARM + 240
    assert first.current < first.baseline
    assert resolved >= WARM + 240


def test_a_twenty_click_segment_never_pages() -> None:
    bank, tracker = DetectorBank(CFG), AlertTracker()
    alerts = []
    for i in range(20):  # 20 clicks, no lead at all
        obs = Observation(T0 + 60 * i, "cmp", "geo", "NL", "click", "lead", 1, 0)
        alerts += tracker.handle(bank.observe(obs))
    assert alerts == []


def test_segments_of_one_campaign_group_into_one_alert() -> None:
    bank, tracker = DetectorBank(CFG), AlertTracker()
    rate = lambda i: 0.0 if i >= WARM else 0.06  # noqa: E731
    # the campaign and its mobile segment see the same outage
    found = []
    rng = random.Random(5)
    for i in range(WARM + 60):
        n = poisson(rng, 40)
        k = sum(rng.random() < rate(i) for _ in range(n))
        for seg in (("all", "all"), ("device", "mobile")):
            obs = Observation(T0 + 60 * i, "cmp", *seg, "click", "lead", n, k)
            found += tracker.handle(bank.observe(obs))
    assert len(found) == 1 and found[0].status == "firing"
    assert set(tracker.open[found[0].key].alert.segments) == {"all=all", "device=mobile"}


def test_replaying_the_same_minutes_gives_the_same_alert_id() -> None:
    rate = lambda i: 0.0 if i >= WARM else 0.05  # noqa: E731
    first = run(WARM + 60, rate)
    again = run(WARM + 60, rate)
    assert first and [a.alert_id for _, a in first] == [a.alert_id for _, a in again]


def test_restored_open_alert_is_not_fired_again_and_resolves_when_recovered() -> None:
    rate = lambda i: 0.0 if WARM <= i < WARM + 60 else 0.05  # noqa: E731
    live = run(WARM + 30, rate)
    assert [a.status for _, a in live] == ["firing"]
    # a restart: replay the same history into new detectors without emitting, restore
    bank, tracker = DetectorBank(CFG), AlertTracker()
    run(WARM + 30, rate, bank=bank, tracker=AlertTracker())
    tracker.restore([live[0][1]])
    assert tracker.reconcile(list(bank.firing())) == []
    # a restart after the recovery resolves the stored alert instead
    bank2 = DetectorBank(CFG)
    run(WARM + 240, rate, bank=bank2, tracker=AlertTracker())
    tracker2 = AlertTracker()
    tracker2.restore([live[0][1]])
    resolved = tracker2.reconcile(list(bank2.firing()))
    assert [(a.alert_id, a.status) for a in resolved] == [(live[0][1].alert_id, "resolved")]


def test_deeper_stage_monitor_uses_the_same_test_on_cohorts() -> None:
    # hourly cohorts of 30 leads, 60% contacted; then contact stops for a day
    bank, tracker = DetectorBank(CFG), AlertTracker()
    rng = random.Random(9)
    alerts = []
    for h in range(24 * 10):
        n = 30
        k = 0 if h >= 24 * 8 else sum(rng.random() < 0.6 for _ in range(n))
        obs = Observation(T0 + 3600 * h, "cmp", "all", "all", "lead", "contacted", n, k)
        alerts += tracker.handle(bank.observe(obs))
    assert [(a.kind, a.from_stage, a.to_stage) for a in alerts][:1] == [
        ("stall", "lead", "contacted")
    ]


def test_cost_anomaly_ignores_the_daily_price_rhythm_and_fires_on_a_real_rise() -> None:
    monitor = CostMonitor(CFG, "cpc")
    rng = random.Random(2)
    signals = []
    for minute in range(16 * 1440):
        hour = (minute // 60) % 24
        # prices swing ±40% over the day; from day 15 they are 60% above normal
        cpc = 1_000_000 * (1 + 0.4 * math.sin(hour / 24 * 2 * math.pi))
        if minute >= 15 * 1440:
            cpc *= 1.6
        clicks = 10
        cost = int(cpc * clicks * math.exp(rng.gauss(0, 0.1)))
        signals += monitor.observe(T0 + 60 * minute, cost, clicks)
    assert [s.action for s in signals] == ["fire"]
    assert signals[0].minute >= T0 + 15 * 86_400
    assert signals[0].current / signals[0].baseline > 1.4
