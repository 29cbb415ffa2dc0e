"""The detector service: judges closed minutes and keeps the alerts' lifecycle.

Invariants:
- a minute is judged once it is closed — the sink's newest event minute is at least
  ``alert_grace_minutes`` later — and minutes are judged in order, each exactly once
  per process: the cursor (last judged minute) is saved in ClickHouse after the
  alerts of the step are written;
- a restarted worker rebuilds the detectors by replaying ``alert_warmup_hours`` of
  history before the cursor without alerting, restores the open alerts from the
  ``alerts`` table and reconciles the two (fires what no stored alert covers,
  resolves stored alerts that recovered): a restart neither blinds nor re-fires;
- a worker that starts on an empty ClickHouse judges everything it later receives
  (no replay: there is no history to replay);
- deeper transitions (lead→contacted, …) are judged on hourly cohorts once the
  stage's maturity has passed, so normal conversion lag never looks like a drop.
All methods run in the ClickHouse thread (chDB allows one session per process).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.schemas.funnel import Funnel

from ..detectors import (
    Alert,
    AlertTracker,
    DetectorBank,
    DetectorConfig,
    Observation,
)
from . import store

log = logging.getLogger(__name__)

HOUR = 3600
#: cohorts replayed on start cover this many times the minute warm-up (deeper
#: stages see one observation per hour, so their baselines need a longer past)
COHORT_WARMUP_FACTOR = 4
#: minutes read per query (bounds memory when a long history is replayed)
CHUNK = 6 * HOUR


class DetectorService:
    def __init__(
        self,
        config: DetectorConfig,
        funnel: Funnel,
        grace_minutes: int,
        warmup_hours: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        transitions = funnel.transitions
        self.first = transitions[0]
        self.deeper = [
            (a, b, config.stage_maturity_minutes[b] * 60)
            for a, b in transitions[1:]
            if b in config.stage_maturity_minutes
        ]
        self.bank = DetectorBank(config, cost_stages=self.first)
        self.tracker = AlertTracker()
        self.grace = grace_minutes * 60
        self.warmup = int(warmup_hours * HOUR)
        self.cursor: int | None = None  # last judged minute; None: not started
        self.fresh = False  # started on an empty ClickHouse: judge everything from the start
        self.clock = clock

    # ---- the step ----------------------------------------------------------------
    def step(self, client: ClickHouse) -> list[Alert]:
        """Judge the minutes closed since the last step; write their alerts and the
        cursor; return the alert states to publish."""
        watermark = store.sink_watermark(client)
        if self.cursor is None:
            alerts = self._start(client, watermark)
            if self.cursor is None:
                return alerts
        else:
            alerts = []
        assert self.cursor is not None
        closed = watermark - watermark % 60 - self.grace
        if closed > self.cursor:
            alerts += self._judge(client, self.cursor, closed, emit=True)
            store.write_alerts(client, alerts)
            store.save_cursor(client, closed)
            self.cursor = closed
        elif alerts:
            store.write_alerts(client, alerts)
        return alerts

    def _start(self, client: ClickHouse, watermark: int) -> list[Alert]:
        cursor = store.load_cursor(client)
        if cursor:
            self._warm_up(client, cursor)
            self.tracker.restore(store.open_alerts(client))
            self.cursor = cursor
            alerts = self.tracker.reconcile(list(self.bank.firing()))
            log.info(
                "detectors warmed up to %s; %d open alerts restored, %d reconciled",
                cursor,
                len(self.tracker.open),
                len(alerts),
            )
            return alerts
        first = store.first_minute(client)
        if not first:
            self.fresh = True  # nothing yet: whatever arrives is new
            return []
        if self.fresh:
            self.cursor = first - 60
            return []
        closed = watermark - watermark % 60 - self.grace
        self._warm_up(client, closed)
        self.cursor = closed
        store.save_cursor(client, closed)
        return self.tracker.reconcile(list(self.bank.firing()))

    def _warm_up(self, client: ClickHouse, until: int) -> None:
        started = time.monotonic()
        self._judge(
            client,
            until - self.warmup,
            until,
            emit=False,
            cohort_from=until - self.warmup * COHORT_WARMUP_FACTOR,
        )
        log.info(
            "detector warm-up replayed %d h in %.1f s",
            self.warmup // HOUR,
            time.monotonic() - started,
        )

    # ---- judging -----------------------------------------------------------------
    def _judge(
        self, client: ClickHouse, lo: int, hi: int, emit: bool, cohort_from: int | None = None
    ) -> list[Alert]:
        """Feed minutes (lo, hi] and the cohorts that matured in that span."""
        out: list[Alert] = []
        a, b = self.first
        start = lo
        while start < hi:
            end = min(hi, start + CHUNK)
            out += self._feed(store.read_minutes(client, start, end, a, b), emit)
            start = end
        for a, b, maturity in self.deeper:
            first = self._last_cohort(cohort_from if cohort_from is not None else lo, maturity)
            last = self._last_cohort(hi, maturity)
            if last > first:
                cohorts = store.read_cohorts(client, first + HOUR, last + HOUR, a, b, maturity)
                out += self._feed(cohorts, emit)
        return out

    @staticmethod
    def _last_cohort(closed: int, maturity: int) -> int:
        """The last cohort hour whose every lead is mature when minutes up to
        ``closed`` are judged."""
        edge = closed - maturity - HOUR
        return edge - edge % HOUR

    def _feed(self, observations: Iterable[Observation], emit: bool) -> list[Alert]:
        events = []
        for obs in observations:
            events += self.bank.observe(obs)
        return self.tracker.handle(events) if emit else []
