"""The ClickHouse sink: the only writer of funnel tables.

Guarantee: a batch's Kafka offsets are acknowledged only after :meth:`FactSink.flush`
returned, and flush returns only after ClickHouse acknowledged the facts, the
per-minute KPIs derived from them and the progress row naming the minutes whose
rolling conversions are still to be recomputed. Rolling conversions are recomputed
for those minutes at most every ``roll_interval`` seconds (and when idle), and never
for more than a third of the sink's time (a backlog makes each roll dearer), from what
ClickHouse holds, so a crash at any point leaves nothing undone after restart.
Every write is idempotent (versioned rows, highest version wins), so a batch
replayed after a crash at any point converges to the same tables; versions never go
back, not even across a restart on a clock stepped back (the sink starts above the
newest progress row it reads). Transient
ClickHouse errors (a restart) are retried with backoff while the partition waits;
an error that retrying cannot fix stops the process before any offset is committed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from funnelwatch.clickhouse import ClickHouse, ClickHouseError
from funnelwatch.schemas.funnel import Funnel

from . import metrics
from .facts import FACT_COLUMNS, Fact, fact_identity, fact_row
from .rollup import new_version, recompute_minutes, recompute_rolling, saw_version

log = logging.getLogger(__name__)

PROGRESS = "rolling"
#: a roll that took t seconds is followed by at least ROLL_DUTY * t of other work
ROLL_DUTY = 2.0


@dataclass(frozen=True)
class Progress:
    """What ClickHouse holds: newest minute, minute rolled up to, first minute not rolled."""

    watermark: int
    rolled_until: int
    dirty_from: int

    @property
    def pending(self) -> int:
        return 1 if self.dirty_from else 0


def _exit_without_commit(exc: ClickHouseError) -> None:
    logging.shutdown()
    # Exiting here, before the batch is acknowledged, keeps its offsets uncommitted.
    os._exit(70)


class FactSink:
    def __init__(
        self,
        connect: Callable[[], ClickHouse],
        funnel: Funnel,
        windows: tuple[int, ...],
        roll_interval: float = 2.0,
        max_backoff: float = 30.0,
        on_fatal: Callable[[ClickHouseError], None] = _exit_without_commit,
    ) -> None:
        self._connect = connect
        self._client: ClickHouse | None = None
        self._funnel = funnel
        self._windows = windows
        self._roll_interval = roll_interval
        self._max_backoff = max_backoff
        self._on_fatal = on_fatal
        self._progress: Progress | None = None
        self._next_roll = 0.0

    @property
    def client(self) -> ClickHouse:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def flush(self, facts: Sequence[Fact]) -> None:
        """Write one batch; returns only when all of it is durable in ClickHouse."""
        if not facts:
            return
        started = time.monotonic()
        self._retrying(lambda: self._write(facts))
        metrics.SINK_FLUSH_SECONDS.observe(time.monotonic() - started)
        metrics.FACTS_WRITTEN.inc(len(facts))

    def _retrying(self, write: Callable[[], None]) -> None:
        delay = 0.5
        while True:
            try:
                write()
                return
            except ClickHouseError as exc:
                if not exc.retryable:
                    log.critical("ClickHouse rejected a write, stopping without commit: %s", exc)
                    metrics.SINK_ERRORS.labels(kind="fatal").inc()
                    self._on_fatal(exc)
                    raise
                metrics.SINK_ERRORS.labels(kind="retry").inc()
                log.warning("ClickHouse write failed, retrying in %.1fs: %s", delay, exc)
                self._client = None
                self._progress = None  # re-read: the failed write may or may not have landed
                time.sleep(delay)
                delay = min(delay * 2, self._max_backoff)

    def _write(self, facts: Sequence[Fact]) -> None:
        latest: dict[tuple[int, str, str], Fact] = {}
        for fact in facts:
            key = fact_identity(fact)
            if key not in latest or latest[key]["version"] <= fact["version"]:
                latest[key] = fact
        client = self.client
        client.insert("funnel_facts", FACT_COLUMNS, [fact_row(f) for f in latest.values()])
        minutes = {f["minute"] for f in latest.values()}
        recompute_minutes(client, minutes)
        progress = self._read_progress(client)
        dirty = min(minutes) if progress.dirty_from == 0 else min(progress.dirty_from, *minutes)
        self._save(
            client, Progress(max(progress.watermark, *minutes), progress.rolled_until, dirty)
        )
        if time.monotonic() >= self._next_roll:
            self._roll(client)

    def roll_if_due(self) -> None:
        """Roll pending conversions when the sink is idle (called by a timer)."""

        def roll() -> None:
            # after a restart the pending range is in ClickHouse, not yet in memory
            if time.monotonic() >= self._next_roll and self._read_progress(self.client).dirty_from:
                self._roll(self.client)

        self._retrying(roll)

    def _roll(self, client: ClickHouse) -> None:
        started = time.monotonic()
        p = self._read_progress(client)
        if p.dirty_from:
            lo = p.dirty_from
            if p.rolled_until:
                lo = min(lo, p.rolled_until + 60)
            recompute_rolling(client, self._funnel, self._windows, lo, p.watermark)
            self._save(client, Progress(p.watermark, p.watermark, 0))
        took = time.monotonic() - started
        if self._roll_interval > 0:
            self._next_roll = time.monotonic() + max(self._roll_interval, ROLL_DUTY * took)

    def _read_progress(self, client: ClickHouse) -> Progress:
        if self._progress is None:
            rows = client.execute(
                "SELECT argMax(watermark, version), argMax(rolled_until, version), "
                "argMax(dirty_from, version), max(version) FROM sink_progress "
                "WHERE name = %(name)s",
                {"name": PROGRESS},
            )
            row = rows[0] if rows and rows[0][0] is not None else (0, 0, 0, 0)
            saw_version(int(row[3]))
            self._progress = Progress(int(row[0]), int(row[1]), int(row[2]))
        return self._progress

    def _save(self, client: ClickHouse, progress: Progress) -> None:
        client.insert(
            "sink_progress",
            ("name", "watermark", "rolled_until", "dirty_from", "version"),
            [(PROGRESS, progress.watermark, progress.rolled_until, progress.dirty_from,
              new_version())],
        )  # fmt: skip
        self._progress = progress
        metrics.ROLLING_PENDING.set(progress.pending)
