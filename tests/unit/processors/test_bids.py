"""The pure bid logic: bounded steps, dead band, minimum volume and interval, pause."""

from __future__ import annotations

from funnelwatch.processors.bids import BidPolicy, Observation, Recommendation, recommend

POLICY = BidPolicy(
    step=0.1,
    min_multiplier=0.5,
    max_multiplier=1.5,
    hysteresis=0.1,
    min_change_seconds=300,
    min_clicks=50,
)
TARGET = 10_000_000  # CPL 10.00


def obs(spend: float, leads: int, clicks: int = 100, stalled: bool = False) -> Observation:
    return Observation(clicks, leads, int(spend * 1e6), stalled)


def step(o: Observation, prev: Recommendation | None, now: float) -> Recommendation:
    return recommend("c", "cpl", TARGET, o, prev, now, POLICY)


def test_cpl_above_target_lowers_by_one_step() -> None:
    rec = step(obs(200, 10), None, 1000)  # CPL 20
    assert (rec.action, rec.multiplier, rec.changed_at) == ("lower", 0.9, 1000)
    assert rec.reason == "CPL 20.00 vs target 10.00: above target by 100%"


def test_cpl_below_target_raises_by_one_step() -> None:
    rec = step(obs(50, 10), None, 1000)  # CPL 5
    assert (rec.action, rec.multiplier) == ("raise", 1.1)
    assert "room to buy more" in rec.reason


def test_inside_the_dead_band_it_holds() -> None:
    for spend in (91, 100, 109):
        rec = step(obs(spend, 10), None, 1000)
        assert (rec.action, rec.multiplier) == ("hold", 1.0), spend


def test_too_few_clicks_hold_whatever_the_cost() -> None:
    rec = step(obs(1000, 1, clicks=49), None, 1000)
    assert (rec.action, rec.multiplier) == ("hold", 1.0)
    assert "too little volume" in rec.reason


def test_spend_without_any_lead_counts_as_above_target() -> None:
    rec = step(obs(30, 0), None, 1000)  # at least 30 per lead
    assert (rec.action, rec.multiplier) == ("lower", 0.9)


def test_changes_are_at_least_the_minimum_interval_apart() -> None:
    first = step(obs(200, 10), None, 1000)
    held = step(obs(200, 10), first, 1299)
    assert (held.action, held.multiplier) == ("hold", 0.9)
    assert held.reason.endswith("next change allowed in 1s")
    second = step(obs(200, 10), held, 1300)
    assert (second.action, second.multiplier) == ("lower", 0.8)


def test_multiplier_stays_within_its_bounds() -> None:
    rec: Recommendation | None = None
    for i in range(20):
        rec = step(obs(500, 10), rec, 1000 + i * 300)
    assert rec is not None and rec.multiplier == 0.5
    assert rec.action == "hold" and "floor 0.5" in rec.reason
    for i in range(30):
        rec = step(obs(10, 10), rec, 10_000 + i * 300)
    assert rec.multiplier == 1.5 and "ceiling 1.5" in rec.reason


def test_alternating_costs_around_the_band_do_not_flap() -> None:
    rec: Recommendation | None = None
    multipliers = []
    for i in range(40):  # CPL 10.5 and 9.5 in turn, every 10 s
        rec = step(obs(105 if i % 2 else 95, 10), rec, 1000 + 10 * i)
        multipliers.append(rec.multiplier)
    assert set(multipliers) == {1.0}


def test_stall_pauses_at_once_and_resumes_from_the_multiplier_before() -> None:
    lowered = step(obs(200, 10), None, 1000)
    paused = step(obs(200, 10, stalled=True), lowered, 1001)
    assert (paused.action, paused.multiplier, paused.resume_multiplier) == ("pause", 0.0, 0.9)
    still = step(obs(200, 10, stalled=True), paused, 1100)
    assert still.changed_at == 1001  # the pause began once
    resumed = step(obs(100, 10), still, 1200)
    assert (resumed.action, resumed.multiplier) == ("hold", 0.9)


def test_pause_ignores_the_minimum_volume() -> None:
    rec = step(obs(0, 0, clicks=0, stalled=True), None, 5)
    assert rec.action == "pause"
