"""The demo's traffic plan: every event within the age limit, the incident within minutes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import takewhile

import pytest

from funnelwatch.demo.main import DEFAULT_SPEED, build_parser
from funnelwatch.demo.plan import (
    DEFAULT_LEAD_MINUTES,
    DemoPlan,
    plan_demo,
    release_at,
    replay_into_present,
)
from funnelwatch.schemas.contracts import Limits, parse_event_time, validate_raw
from funnelwatch.settings import Settings
from funnelwatch.streams.simulator.cli import SimulateUsageError
from funnelwatch.streams.simulator.generator import generate_timed
from funnelwatch.streams.simulator.model import default_campaigns
from funnelwatch.streams.simulator.records import SentRecord, TimedRecord

NOW = datetime(2026, 12, 3, 12, 0, 0, 123_456, tzinfo=UTC)
MAX_AGE_DAYS: float = Settings.model_fields["max_event_age_days"].default
#: the board's conversion window: a broken form shows once a whole window is past it
WINDOW_MINUTES = 15


def plan(duration: float | None = None, **kw: object) -> DemoPlan:
    """The plan `funnelwatch demo` makes with its default flags (and ``--duration``)."""
    args = build_parser().parse_args([] if duration is None else ["--duration", str(duration)])
    options: dict[str, object] = dict(
        duration_seconds=args.duration, speed=args.speed, campaigns=args.campaigns,
        seed=args.seed, incidents=args.incident, now=NOW, max_event_age_days=MAX_AGE_DAYS,
    )  # fmt: skip
    options.update(kw)
    return plan_demo(**options)  # type: ignore[arg-type]


def wall_seconds(p: DemoPlan, simulated_minute: float) -> float:
    """Wall seconds after the replay began (at NOW) until that simulated minute is out."""
    send_ms = p.start_ms + int(simulated_minute * 60_000)
    return release_at(send_ms, p.start_ms, NOW.timestamp(), p.speed) - NOW.timestamp()


def test_default_plan_starts_a_day_back_well_within_the_age_limit() -> None:
    p = plan()
    assert p.speed == DEFAULT_SPEED and p.minutes is None and p.config.end is None
    lead = NOW - p.config.start
    assert timedelta(minutes=DEFAULT_LEAD_MINUTES) - lead < timedelta(milliseconds=1)
    assert lead <= timedelta(days=MAX_AGE_DAYS) / 2
    # the replay reaches the present after lead / (speed - 1): about 24 wall minutes
    assert p.catch_up_seconds(NOW.timestamp()) == pytest.approx(1440 * 60 / 59, abs=1)


def test_every_event_of_the_default_plan_passes_the_age_limit_when_released() -> None:
    # The first three simulated hours hold the oldest events of the run relative to
    # their release (later ones are released ever closer to their own time).
    p = plan()
    limits = Limits(max_age=timedelta(days=MAX_AGE_DAYS))
    wall0 = NOW.timestamp()
    until = p.start_ms + 3 * 3_600_000
    checked = 0
    for timed in takewhile(lambda t: t.send_ms <= until, generate_timed(p.config)):
        if not timed.record.valid:
            continue  # malformed on purpose: the dead-letter topic is where they belong
        due = release_at(timed.send_ms, p.start_ms, wall0, p.speed)
        released = datetime.fromtimestamp(due, UTC)
        validate_raw(timed.record.value, limits, now=released)  # raises if too old
        event_time = parse_event_time(json.loads(timed.record.value)["event_time"])
        assert p.config.start <= event_time <= released
        checked += 1
    assert checked > 10_000


def test_a_lower_age_limit_shortens_the_lead_to_half_of_it() -> None:
    p = plan(max_event_age_days=0.5)
    assert NOW - p.config.start == pytest.approx(timedelta(hours=6), abs=timedelta(seconds=1))


def test_default_incident_shows_within_the_first_two_minutes_after_a_healthy_baseline() -> None:
    p = plan()
    (incident,) = p.config.incidents
    assert incident.kind == "form_broken"
    assert incident.target == default_campaigns(6)[0].campaign_id
    assert incident.until_minute is None
    assert incident.from_minute >= WINDOW_MINUTES  # a window of healthy traffic first
    assert wall_seconds(p, incident.from_minute) <= 60
    # the window is all broken a window later: then the board marks it
    assert wall_seconds(p, incident.from_minute + WINDOW_MINUTES) <= 120
    # ... still in the fast replay, long before it reaches the present
    assert wall_seconds(p, incident.from_minute + WINDOW_MINUTES) < p.catch_up_seconds(
        NOW.timestamp()
    )


def test_a_90_second_run_breaks_the_form_at_a_third_and_shows_it_before_the_end() -> None:
    p = plan(90)
    assert p.minutes == 91
    (incident,) = p.config.incidents
    assert incident.from_minute == 30
    assert wall_seconds(p, incident.from_minute + WINDOW_MINUTES) <= 60
    # as before: the run leads by what it replays, reaching the present as it stops
    assert NOW - p.config.start == pytest.approx(
        timedelta(minutes=91 * (1 - 1 / 60)), abs=timedelta(milliseconds=1)
    )
    assert p.catch_up_seconds(NOW.timestamp()) == pytest.approx(91, abs=0.01)


def test_a_long_run_keeps_the_incident_early_and_its_events_within_the_age_limit() -> None:
    p = plan(86_400)  # a day of wall time: 60 simulated days at 60x
    (incident,) = p.config.incidents
    assert wall_seconds(p, incident.from_minute) <= 60
    assert NOW - p.config.start <= timedelta(days=MAX_AGE_DAYS) / 2


def test_given_incidents_are_kept_and_bad_ones_refused() -> None:
    p = plan(incidents=["sales_stop:demo_request:5:50"])
    assert [i.spec() for i in p.config.incidents] == ["sales_stop:demo_request:5:50"]
    with pytest.raises(SimulateUsageError, match="no campaign"):
        plan(incidents=["form_broken:cmp-nope:5"])


def test_release_is_never_before_the_send_time_and_fast_until_the_present() -> None:
    wall0, start_ms, speed = 1_000_000.0, 1_000_000_000 - 59 * 60_000, 60.0
    catch_up = (wall0 - start_ms / 1000) / (speed - 1)  # 60 s
    released = [release_at(start_ms + s * 1000, start_ms, wall0, speed) for s in range(0, 7200)]
    sends = [start_ms / 1000 + s for s in range(0, 7200)]
    assert all(r >= s for r, s in zip(released, sends, strict=True))  # never ahead
    assert released == sorted(released)
    # an hour of simulated time in the first minute, then one second per second
    assert released[3600] - wall0 == pytest.approx(catch_up)
    assert released[60] - released[0] == pytest.approx(1.0)
    assert released[7000] - released[6000] == pytest.approx(1000.0)


def test_replay_into_present_sleeps_until_each_release() -> None:
    clock = [100.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    start_ms = 100_000 - 60_000  # a minute back, at 2x: caught up after 60 s
    record = SentRecord("clicks", b"k", b"{}", "e", True, None, False)
    timed = [TimedRecord(start_ms + s * 1000, record) for s in (0, 60, 120, 130)]
    released = []
    for _ in replay_into_present(timed, start_ms, 2.0, lambda: clock[0], sleep):
        released.append(clock[0])
    assert released == pytest.approx([100.0, 130.0, 160.0, 170.0])
