"""The demo's traffic plan: which simulated span it replays, how fast, and when the form breaks.

The simulated clock starts ``lead`` before now and runs ``speed`` times faster than the
wall clock until it reaches the present; from then on it follows the wall clock (1x).
Invariants:
- no record is released before its simulated send time has passed on the wall clock,
  so no event is ever timed in the future (:func:`release_at`);
- the lead is at most half the worker's age limit (``max_event_age_days``), so no event
  is older than the limit when it is released, and none goes to the dead-letter topic
  for its age;
- a ``--duration`` run leads by just what it replays (``minutes * (1 - 1/speed)``,
  capped as above), so its simulated clock reaches the present as it stops; a run
  without ``--duration`` leads by :data:`DEFAULT_LEAD_MINUTES`;
- the default incident (the first campaign's form breaks) starts after
  :data:`HEALTHY_MINUTES` simulated minutes at least (a baseline to compare with), at a
  third of a short run, and never later than :data:`INCIDENT_AFTER_SECONDS` wall seconds
  into the replay, so the board marks it within the first minutes of any run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from funnelwatch.streams.simulator.live import paced
from funnelwatch.streams.simulator.model import SimulationConfig, default_campaigns
from funnelwatch.streams.simulator.records import SentRecord, TimedRecord

#: simulated history a run without --duration replays before it reaches the present
#: (a day: 24 wall minutes at the default 60x, then the traffic goes on in real time)
DEFAULT_LEAD_MINUTES = 24 * 60
#: simulated minutes of healthy traffic before the default incident, at least
HEALTHY_MINUTES = 20
#: the default incident starts at most this many wall seconds into the replay
INCIDENT_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class DemoPlan:
    """The simulator's config (``start`` is the simulated start, ``end`` None) and pace.

    ``minutes`` is the simulated span of a ``--duration`` run, None without one.
    """

    config: SimulationConfig
    speed: float
    minutes: int | None

    @property
    def start_ms(self) -> int:
        return int(self.config.start_ms)

    def catch_up_seconds(self, wall0: float) -> float:
        """Wall seconds after ``wall0`` (the start of pacing) when the simulated clock
        reaches the wall clock; 0 at speed 1 or slower."""
        if self.speed <= 1.0:
            return 0.0
        return max(0.0, (wall0 - self.start_ms / 1000.0) / (self.speed - 1.0))

    def records(
        self, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep
    ) -> Iterator[SentRecord]:
        """The run's records, each released at :func:`release_at` (blocks; endless)."""
        from funnelwatch.streams.simulator.generator import generate_timed

        return replay_into_present(
            generate_timed(self.config), self.start_ms, self.speed, clock, sleep
        )


def simulated_minutes(duration_seconds: float | None, speed: float) -> int | None:
    """Simulated minutes a ``--duration`` run covers (None: no duration)."""
    if duration_seconds is None:
        return None
    return int(duration_seconds * speed / 60) + 1


def lead_minutes(minutes: int | None, speed: float, max_event_age_days: float) -> float:
    """How far before now the simulated clock starts (see the module invariants)."""
    wanted = DEFAULT_LEAD_MINUTES if minutes is None else minutes * (1.0 - 1.0 / speed)
    if speed <= 1.0:
        wanted = 0.0
    return max(0.0, min(wanted, max_event_age_days * 1440 / 2))


def default_incident_minute(minutes: int | None, speed: float) -> int:
    """Simulated minute after the start at which the default incident begins."""
    latest = max(HEALTHY_MINUTES, round(INCIDENT_AFTER_SECONDS * speed / 60))
    if minutes is None:
        return latest
    return max(1, min(minutes // 3, latest))


def default_incidents(campaigns: int, minutes: int | None, speed: float) -> list[str]:
    first = default_campaigns(campaigns)[0].campaign_id
    return [f"form_broken:{first}:{default_incident_minute(minutes, speed)}"]


def plan_demo(
    *,
    duration_seconds: float | None,
    speed: float,
    campaigns: int,
    seed: int,
    incidents: list[str] | None,
    now: datetime,
    max_event_age_days: float,
) -> DemoPlan:
    """The demo's plan; raises SimulateUsageError (or SystemExit from argparse) for a
    bad incident spec, with the simulator's own messages."""
    from funnelwatch.streams.simulator.cli import add_simulate_arguments, build_plan

    minutes = simulated_minutes(duration_seconds, speed)
    specs = incidents or default_incidents(campaigns, minutes, speed)
    parser = argparse.ArgumentParser(prog="funnelwatch demo")
    add_simulate_arguments(parser)
    # Built as an open-ended live run at 1x (the simulator's own checks of campaigns
    # and incidents apply), then started `lead` earlier: the pace is ours.
    argv = ["--mode", "live", "--campaigns", str(campaigns), "--seed", str(seed), "--flat",
            "--spend-reports"]  # fmt: skip
    for spec in specs:
        argv += ["--incident", spec]
    config = build_plan(parser.parse_args(argv), now).config
    start = now - timedelta(minutes=lead_minutes(minutes, speed, max_event_age_days))
    # the wire has whole milliseconds: round towards now, so the lead stays within bounds
    start += timedelta(microseconds=-start.microsecond % 1000)
    return DemoPlan(replace(config, start=start, end=None), speed, minutes)


def release_at(send_ms: int, start_ms: int, wall0: float, speed: float) -> float:
    """Wall time (epoch seconds) at which a record with simulated send time ``send_ms``
    is released, when pacing began at ``wall0`` with the simulated clock at ``start_ms``.

    The simulated clock runs ``speed`` times faster than the wall clock until it reaches
    it, then with it: the record waits for the later of the two moments.
    """
    fast = wall0 + (send_ms - start_ms) / 1000.0 / speed
    return max(fast, send_ms / 1000.0)


def replay_into_present(
    records: Iterable[TimedRecord],
    start_ms: int,
    speed: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[SentRecord]:
    """Yield each record at :func:`release_at` its send time."""
    released: Iterator[SentRecord] = paced(records, start_ms, speed, clock, sleep, release_at)
    return released
