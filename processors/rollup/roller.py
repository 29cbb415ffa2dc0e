"""The roller: the one recomputer of per-minute KPIs and rolling conversions.

The hot path of every worker, after its facts are durable, produces a notice naming
the minutes they fall in to the one-partition ``rollup`` topic. Every worker's roller
joins the group ``<app_id>-rollup``; the one holding the partition recomputes those
minutes' ``kpi_minute`` rows from the facts, records them as dirty in the progress row,
and recomputes rolling conversions for the dirty span at most every ``roll_interval``
seconds (and never for more than a fifth of its time: a backlog makes each roll
dearer), then commits the notices. It is also the group's leader for the other
singletons (detectors, bid publishing, the hourly sweep of join state past its
horizon): ``is_leader``.

Invariants: a notice is committed only after the recompute of its minutes is durable
and recorded in the progress row, so a crash repeats the recompute (idempotent) and
never skips it; one roller at a time (the group's single partition), so a later
recompute saw at least the facts an earlier one saw and carries a higher version;
when the roller dies, the partition moves to another worker within a session timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
from confluent_kafka import Consumer, TopicPartition

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.schemas.funnel import Funnel

from .. import metrics
from ..hotpath.config import HotPathConfig
from ..hotpath.gate import Abandoned, Gate
from ..hotpath.kafka import assign_unpaused, make_consumer
from ..hotpath.loop import exit_without_commit
from ..lag import LAG_REFRESH_SECONDS, LagReporter
from ..quiet import Quieter
from ..state.horizon import drop_expired
from .progress import Progress, after_minutes, read_progress, roll

log = logging.getLogger(__name__)

#: a roll that took t seconds is followed by at least ROLL_DUTY * t of other work
ROLL_DUTY = 4.0
#: while notices keep coming (a backlog), a roll waits this many roll intervals more:
#: each roll re-reads a window's worth of minutes, so rolling less often costs less
ROLL_BUSY_FACTOR = 4.0
#: how often the leader drops join state past its horizon (state/horizon.py)
SWEEP_EVERY_SECONDS = 3600.0
_minutes = msgspec.msgpack.Decoder(list[int])


class Roller:
    def __init__(
        self,
        config: HotPathConfig,
        connect_clickhouse: Callable[[], ClickHouse],
        funnel: Funnel,
        windows: tuple[int, ...],
        roll_interval: float,
        on_fatal: Callable[[BaseException], None] = exit_without_commit,
    ) -> None:
        self.config = config
        self.topic = config.topics.rollup
        self.group_id = f"{config.group_id}-rollup"
        self.funnel = funnel
        self.windows = windows
        self.roll_interval = roll_interval
        self._on_fatal = on_fatal
        self._stop = threading.Event()
        self.gate = Gate(connect_clickhouse, config.retry_max_seconds, self._stop)
        self._progress: Progress | None = None
        self._next_roll = 0.0
        self._busy_wait = ROLL_BUSY_FACTOR * roll_interval
        self._next_sweep = 0.0
        self._last_notice = 0.0
        self._leader = threading.Event()
        self._thread: threading.Thread | None = None
        self._committed: int | None = None
        self._lag = LagReporter()
        self.consumer: Consumer | None = None

    @property
    def is_leader(self) -> bool:
        """Whether this worker holds the rollup partition (and so the singletons)."""
        return self._leader.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="roller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.consumer = self.gate.consumer = make_consumer(
                self.config, self.group_id, Quieter(log)
            )
            self.consumer.subscribe(
                [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )  # fmt: skip
            lag_at = 0.0
            while not self._stop.is_set():
                self._step()
                if time.monotonic() - lag_at >= LAG_REFRESH_SECONDS:
                    lag_at = time.monotonic()
                    self._report_lag()
        except BaseException as exc:
            if not self._stop.is_set():
                log.critical("the roller stopped: %r; exiting before committing more", exc)
                self._on_fatal(exc)
                return
        finally:
            if self.consumer is not None:
                try:
                    self.consumer.close()
                except Exception as e:
                    log.warning("closing the roller's consumer: %r", e)
            self.gate.close()
            self._leader.clear()
            metrics.ROLLING_PENDING.set(0)

    def _step(self) -> None:
        assert self.consumer is not None
        records = self.consumer.consume(10_000, 0.1)
        minutes: set[int] = set()
        last: int | None = None
        for record in records:
            if record.error() is not None:
                continue
            minutes.update(_minutes.decode(record.value() or b"[]"))
            last = record.offset()
        self.gate.held = len(records)
        self.gate.abandoned = False
        try:
            if minutes:
                self.gate.clickhouse(lambda c: self._recompute(c, minutes))
            # while notices come, rolls keep to their duty and wait ROLL_BUSY_FACTOR
            # intervals more; after a roll interval without notices the hot path is
            # idle, and a roll costs it nothing: at once
            now = time.monotonic()
            if records:
                self._last_notice = now
            if records:
                due = self._next_roll + self._busy_wait
            elif now - self._last_notice >= self.roll_interval:
                due = 0.0
            else:
                due = self._next_roll
            if self.is_leader and time.monotonic() >= due:
                self.gate.clickhouse(self._roll)
            if self.is_leader and time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + SWEEP_EVERY_SECONDS
                self.gate.clickhouse(self._sweep)
            if last is not None:
                self.gate.commit({(self.topic, 0): last + 1})
                self._committed = last + 1
        except Abandoned as exc:
            log.warning("rollup of %d notices abandoned (%s): read again", len(records), exc)
            self._progress = None
            self.gate.rewind()
        finally:
            self.gate.resume()

    def _read(self, client: ClickHouse) -> Progress:
        if self._progress is None:
            self._progress = read_progress(client)
        return self._progress

    def _recompute(self, client: ClickHouse, minutes: set[int]) -> None:
        self._progress = None  # re-read: a failed attempt may or may not have landed
        self._progress = after_minutes(client, self._read(client), minutes, self.config.segments)
        metrics.ROLLING_PENDING.set(self._progress.pending)

    def _roll(self, client: ClickHouse) -> None:
        started = time.monotonic()
        self._progress = roll(client, self.funnel, self.windows, self._read(client))
        metrics.ROLLING_PENDING.set(self._progress.pending)
        took = time.monotonic() - started
        self._next_roll = time.monotonic() + max(self.roll_interval, ROLL_DUTY * took)

    def _sweep(self, client: ClickHouse) -> None:
        c = self.config
        drop_expired(client, c.click_horizon_days, c.lead_horizon_days, datetime.now(UTC))

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assign_unpaused(consumer, partitions)
        if not partitions:
            return
        committed = consumer.committed(partitions, timeout=60)
        self._committed = committed[0].offset if committed and committed[0].offset >= 0 else None
        self._progress = None
        self._next_roll = 0.0
        self.gate.forget_pause()
        # unknown until the first roll reads the progress row: not "nothing pending"
        metrics.ROLLING_PENDING.set(1)
        self._leader.set()
        log.info("this worker now runs the rollup and the group's singletons")

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            self.gate.abandoned = True
            self.gate.forget_pause()
            self._leader.clear()
            self._progress = None
            metrics.ROLLING_PENDING.set(0)
            log.info("the rollup moved to another worker")

    def _report_lag(self) -> None:
        if self.consumer is not None:
            done = {} if self._committed is None else {(self.topic, 0): self._committed}
            self._lag.report_assignment(self.consumer, done)
