"""The detector service: judges closed minutes and keeps the alerts' lifecycle.

Invariants:
- a minute is judged once it is closed — both stages of the first transition (clicks
  and leads) have reached a minute at least ``alert_grace_minutes`` later, and the
  sink has not rewritten it for ``alert_settle_seconds`` (in a backlog or a replay,
  stragglers of a minute arrive long after later minutes) — and
  minutes are judged in order, each exactly once
  per process: the cursor (last judged minute) is saved in ClickHouse after the
  alerts of the step are written;
- while the pipeline upstream of ClickHouse has a backlog, nothing newer than what
  was certainly complete is judged (see "Backlogs" below);
- a restarted worker rebuilds the detectors by replaying ``alert_warmup_hours`` of
  history before the cursor without alerting, restores the open alerts from the
  ``alerts`` table and reconciles the two (fires what no stored alert covers,
  resolves stored alerts that recovered): a restart neither blinds nor re-fires;
- a worker that starts on an empty ClickHouse judges everything it later receives
  (no replay: there is no history to replay);
- deeper transitions (lead→contacted, …) are judged on hourly cohorts once the
  stage's maturity has passed, so normal conversion lag never looks like a drop.
All methods run on the reader's ClickHouse thread.

Backlogs. The watermark and settle rules read ClickHouse only, and ClickHouse cannot
tell a minute that is complete from one whose leads are still in Kafka: while a backlog
drains (a restart, a batch load), clicks reach ClickHouse ahead of leads forwarded to
their owner and partitions run apart, so both stages' newest minute is far ahead of
minutes that still miss most of their leads, and a minute may stay unwritten for longer
than any settle time while its leads wait in by-lead. That paged on-call with "0% vs
baseline" stalls after every restart with a backlog. Kafka does know what is in flight,
so each step is told whether the consumer groups of the whole pipeline were caught up
(see :mod:`.backlog`: committed the end offsets of the previous check, group-wide). A
watermark read at step t0 is used only after ``HOPS`` caught-up checks in a row followed
it: a record that was anywhere in Kafka at t0 needs at most one check per hop (sources →
by-lead → rollup → per-minute KPIs) to land, so by then every event of those minutes
that existed at t0 is in ClickHouse; later events are the late ones the grace is for. A
backlog therefore delays judging until it has drained, then judges everything in order
(no alert is lost, none is invented); on live traffic it costs ``HOPS`` steps of
latency, and a total outage of a stage still fires: the lead watermark is global and the
idle rule below still applies. Per-partition event-time watermarks from the facts would
not do: a stalled campaign and a lagging partition look the same in ClickHouse.
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
#: caught-up checks after which a watermark is certain: one per hop a record may
#: still need (sources → by-lead → rollup → ClickHouse's per-minute KPIs)
HOPS = 3
#: minutes read per query (bounds memory when a long history is replayed)
CHUNK = 6 * HOUR


class DetectorService:
    def __init__(
        self,
        config: DetectorConfig,
        funnel: Funnel,
        grace_minutes: int,
        warmup_hours: float,
        stage_idle_seconds: float = 120.0,
        settle_seconds: float = 20.0,
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
        self.stage_idle_seconds = stage_idle_seconds
        self.settle = settle_seconds
        self.marks: dict[str, tuple[int, float]] = {}  # stage -> (watermark, when it moved)
        self.chain: list[int] = []  # watermarks of the steps since the last backlog
        self.certain: int | None = None  # newest watermark known to be complete

    # ---- the step ----------------------------------------------------------------
    def step(self, client: ClickHouse, caught_up: bool | None = None) -> list[Alert]:
        """Judge the minutes closed since the last step; write their alerts and the
        cursor; return the alert states to publish.

        ``caught_up``: whether the pipeline had no backlog since the previous step
        (None: no Kafka to ask — ClickHouse alone tells what is complete)."""
        watermark = self._certain(self._watermark(client), caught_up)
        if self.cursor is None:
            alerts = self._start(client, watermark)
            if self.cursor is None:
                return alerts
        else:
            alerts = []
        assert self.cursor is not None
        if watermark is None:  # a backlog: nothing is certainly complete yet
            if alerts:
                store.write_alerts(client, alerts)
            return alerts
        closed = self._settled(client, watermark - watermark % 60 - self.grace)
        if closed > self.cursor:
            alerts += self._judge(client, self.cursor, closed, emit=True)
            store.write_alerts(client, alerts)
            store.save_cursor(client, closed)
            self.cursor = closed
        elif alerts:
            store.write_alerts(client, alerts)
        return alerts

    def _watermark(self, client: ClickHouse) -> int:
        """The newest minute both stages of the first transition have reached.

        Clicks and forms come from different topics and may be processed minutes
        apart in event time (a backlog, a replay): a minute is complete only when both
        got past it. A stage that stops advancing (in wall-clock time) while the other
        moves on for ``stage_idle_seconds`` is left out — that is an outage of the
        whole stage, which the detectors must see rather than wait for."""
        since = (self.cursor or 0) - 86_400
        marks = store.stage_watermarks(client, max(since, 0), self.first)
        now = self.clock()
        for stage in self.first:
            mark = marks.get(stage, 0)
            if mark != self.marks.get(stage, (-1, 0.0))[0]:
                self.marks[stage] = (mark, now)
        newest = max(marks.values(), default=0)
        live = [
            mark
            for stage, (mark, moved) in self.marks.items()
            if mark >= newest or now - moved < self.stage_idle_seconds
        ]
        return min(live, default=0)

    def _certain(self, watermark: int, caught_up: bool | None) -> int | None:
        """The newest watermark no backlog can still add events below (None: none yet)."""
        if caught_up is None:
            return watermark
        if caught_up:
            self.chain.append(watermark)
        else:
            if len(self.chain) > 1:  # was catching up: say once why judging pauses
                log.info("pipeline backlog: detectors wait at %s", self.certain)
            self.chain = [watermark]
        if len(self.chain) > HOPS:
            self.chain = self.chain[-HOPS - 1 :]
            self.certain = max(self.certain or 0, self.chain[0])
        return self.certain

    def _settled(self, client: ClickHouse, closed: int) -> int:
        """``closed``, or earlier: the last minute before the first one the sink wrote
        to less than ``settle_seconds`` ago (a backlog or replay still fills it)."""
        if self.cursor is None or closed <= self.cursor or self.settle <= 0:
            return closed
        recent = int((self.clock() - self.settle) * 1_000_000)
        first = store.first_unsettled_minute(client, self.cursor, closed, recent)
        return closed if first is None else min(closed, first - 60)

    def _start(self, client: ClickHouse, watermark: int | None) -> list[Alert]:
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
        if watermark is None:  # a backlog: where the history ends is not known yet
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
