"""The ClickHouse sink: the only writer of funnel tables.

Guarantee: a batch's Kafka offsets are acknowledged only after :meth:`FactSink.flush`
returned, and flush returns only after ClickHouse acknowledged the facts, the
per-minute KPIs and the rolling conversions derived from them, and the progress row.
Every write is idempotent (versioned rows, highest version wins), so a batch
replayed after a crash at any point converges to the same tables. Transient
ClickHouse errors (a restart) are retried with backoff while the partition waits;
an error that retrying cannot fix stops the process before any offset is committed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence

from funnelwatch.clickhouse import ClickHouse, ClickHouseError
from funnelwatch.schemas.funnel import Funnel

from . import metrics
from .facts import FACT_COLUMNS, Fact, fact_identity, fact_row
from .rollup import new_version, recompute_minutes, recompute_rolling

log = logging.getLogger(__name__)

PROGRESS = "rolling"


class FactSink:
    def __init__(
        self,
        connect: Callable[[], ClickHouse],
        funnel: Funnel,
        windows: tuple[int, ...],
        max_backoff: float = 30.0,
    ) -> None:
        self._connect = connect
        self._client: ClickHouse | None = None
        self._funnel = funnel
        self._windows = windows
        self._max_backoff = max_backoff

    @property
    def client(self) -> ClickHouse:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def flush(self, facts: Sequence[Fact]) -> None:
        """Write one batch; returns only when all of it is durable in ClickHouse."""
        if not facts:
            return
        started = time.monotonic()
        delay = 0.5
        while True:
            try:
                self._write(facts)
                break
            except ClickHouseError as exc:
                if not exc.retryable:
                    log.critical("ClickHouse rejected a batch, stopping without commit: %s", exc)
                    metrics.SINK_ERRORS.labels(kind="fatal").inc()
                    logging.shutdown()
                    # Exiting here is what keeps the offsets of this batch uncommitted.
                    os._exit(70)
                metrics.SINK_ERRORS.labels(kind="retry").inc()
                log.warning("ClickHouse write failed, retrying in %.1fs: %s", delay, exc)
                self._client = None
                time.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
        metrics.SINK_FLUSH_SECONDS.observe(time.monotonic() - started)
        metrics.FACTS_WRITTEN.inc(len(facts))

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

        watermark, rolled_until = self._progress(client)
        hi = max(watermark, max(minutes))
        lo = min(minutes) if rolled_until == 0 else min(min(minutes), rolled_until + 60)
        recompute_rolling(client, self._funnel, self._windows, lo, hi)
        client.insert(
            "sink_progress",
            ("name", "watermark", "rolled_until", "version"),
            [(PROGRESS, hi, hi, new_version())],
        )

    def _progress(self, client: ClickHouse) -> tuple[int, int]:
        rows = client.execute(
            "SELECT argMax(watermark, version), argMax(rolled_until, version) "
            "FROM sink_progress WHERE name = %(name)s",
            {"name": PROGRESS},
        )
        if not rows or rows[0][0] is None:
            return 0, 0
        return int(rows[0][0]), int(rows[0][1])
