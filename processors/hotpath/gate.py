"""Passing through outages: ClickHouse and Kafka calls that wait for the service to return.

A :class:`Gate` belongs to one consumer thread (the hot path's or the roller's). While a
service does not answer, it pauses every partition the consumer holds and keeps
polling it (so the consumer stays in its group, its heartbeats go on and rebalance
callbacks run), retries with a backoff of at most ``retry_max_seconds``, and resumes
the partitions with the first success: the worker goes on within seconds of the
service's return, and nothing it held is committed meanwhile. When the partitions are
revoked during the wait, :class:`Abandoned` tells the caller to drop its batch (the next
owner reads it again). An outage is logged as a few lines with counts.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from funnelwatch.clickhouse import ClickHouse, ClickHouseError

from .. import metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

#: seconds between two "still unreachable" lines of one outage
OUTAGE_REPORT_SECONDS = 60.0


class Abandoned(Exception):
    """The batch cannot be finished here: its partitions went to another member."""


class Fatal(Exception):
    """An error retrying cannot fix."""


class Outage:
    def __init__(self, what: str) -> None:
        self.what = what
        self.since: float | None = None
        self.attempts = 0
        self.reported = 0.0

    def failed(self, exc: BaseException, held: int) -> None:
        now = time.monotonic()
        self.attempts += 1
        if self.since is None:
            self.since = self.reported = now
            log.warning("%s unreachable (%s); %d records held, partitions paused, retrying",
                        self.what, exc, held)  # fmt: skip
        elif now - self.reported >= OUTAGE_REPORT_SECONDS:
            self.reported = now
            log.warning("%s still unreachable after %.0fs (%d attempts): %s",
                        self.what, now - self.since, self.attempts, exc)  # fmt: skip

    def over(self) -> None:
        if self.since is not None:
            log.warning("%s reachable again after %.1fs (%d attempts); resuming",
                        self.what, time.monotonic() - self.since, self.attempts)  # fmt: skip
        self.since, self.attempts = None, 0


class Gate:
    def __init__(
        self,
        connect_clickhouse: Callable[[], ClickHouse],
        retry_max_seconds: float,
        stopping: threading.Event,
    ) -> None:
        self._connect = connect_clickhouse
        self._retry_max = retry_max_seconds
        self._stopping = stopping
        self._client: ClickHouse | None = None
        self.consumer: Consumer | None = None
        #: records in hand (for the outage lines)
        self.held = 0
        #: set by the rebalance callbacks when a batch in hand lost its partitions
        self.abandoned = False
        #: inside a rebalance callback the consumer cannot be polled: waits just sleep
        self.in_callback = False
        self._paused = False
        #: partitions paused to read a backlog in time order (see .align)
        self._held_back: set[tuple[str, int]] = set()
        self.delivery_errors: list[str] = []

    # ---- ClickHouse ------------------------------------------------------------------

    def clickhouse(self, work: Callable[[ClickHouse], T]) -> T:
        """Run ``work`` on ClickHouse, retrying through an outage (partitions paused)."""
        outage = Outage("ClickHouse")
        delay = 0.25
        while True:
            try:
                if self._client is None:
                    self._client = self._connect()
                result = work(self._client)
            except ClickHouseError as exc:
                if not exc.retryable:
                    metrics.SINK_ERRORS.labels(kind="fatal").inc()
                    raise Fatal(f"ClickHouse refused a request: {exc}") from exc
                metrics.SINK_ERRORS.labels(kind="retry").inc()
                self.close()
                outage.failed(exc, self.held)
                self.wait(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            outage.over()
            return result

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # a dead connection may not close cleanly
                self._client.close()
            self._client = None

    # ---- Kafka -------------------------------------------------------------------------

    def on_delivery(self, err: KafkaError | None, msg: object) -> None:
        if err is not None:
            self.delivery_errors.append(err.str())

    def flush(self, producer: Producer) -> None:
        """Return once the broker acknowledged every record produced so far."""
        outage = Outage("Kafka (producing)")
        while True:
            left = producer.flush(1.0)
            if self.delivery_errors:
                errors, self.delivery_errors = self.delivery_errors, []
                raise Fatal(f"the broker refused {len(errors)} records: {errors[0]}")
            if left == 0:
                outage.over()
                return
            outage.failed(RuntimeError(f"{left} records not acknowledged yet"), self.held)
            self.wait(0.5)

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Commit these next offsets synchronously, retrying while the broker is away."""
        assert self.consumer is not None
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        outage = Outage("Kafka (committing)")
        delay = 0.25
        while True:
            try:
                self.consumer.commit(offsets=tps, asynchronous=False)
            except KafkaException as exc:
                if self.abandoned:
                    raise Abandoned("partitions revoked before the commit") from exc
                outage.failed(exc, self.held)
                self.wait(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            outage.over()
            return

    # ---- waiting -----------------------------------------------------------------------

    def wait(self, seconds: float) -> None:
        """Wait while staying in the group; raise Abandoned if the batch was revoked."""
        if self.in_callback or self.consumer is None:
            time.sleep(seconds)
            return
        self.pause()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._stopping.is_set():
            # paused: consume returns nothing, but serves heartbeats and rebalance callbacks
            stray = self.consumer.consume(1, max(0.0, min(0.5, deadline - time.monotonic())))
            if stray:
                self.abandoned = True
                raise Abandoned("records arrived for a paused partition")
            if self.abandoned:
                raise Abandoned("partitions revoked while waiting")
        if self._stopping.is_set():
            raise Abandoned("shutting down")

    def pause(self) -> None:
        if not self._paused and self.consumer is not None:
            assignment = self.consumer.assignment()
            if assignment:
                self.consumer.pause(assignment)
            self._paused = True

    def resume(self) -> None:
        if self._paused and self.consumer is not None:
            assignment = [
                tp
                for tp in self.consumer.assignment()
                if (tp.topic, tp.partition) not in self._held_back
            ]
            if assignment:
                self.consumer.resume(assignment)
        self._paused = False

    @property
    def held_back(self) -> set[tuple[str, int]]:
        return set(self._held_back)

    def hold_back(self, partitions: set[tuple[str, int]]) -> None:
        """Keep exactly these partitions paused (outside outages)."""
        if self.consumer is None or partitions == self._held_back:
            return
        now_held = [TopicPartition(t, p) for t, p in partitions - self._held_back]
        released = [TopicPartition(t, p) for t, p in self._held_back - partitions]
        if now_held:
            self.consumer.pause(now_held)
        if released and not self._paused:
            self.consumer.resume(released)
        self._held_back = set(partitions)

    def seek_back(self, offsets: dict[tuple[str, int], int]) -> None:
        """Seek these partitions back to the records a batch left unread. A seek that
        fails (``_OUTDATED`` when a rebalance or a pause overtook it) would leave the
        consumer past records never processed, which the next commit would skip: read
        everything again from the committed offsets instead (a replay is idempotent)."""
        assert self.consumer is not None
        try:
            for (topic, partition), offset in offsets.items():
                self.consumer.seek(TopicPartition(topic, partition, offset))
        except KafkaException as exc:
            log.warning("seeking back to held records failed (%s): reading again from the "
                        "committed offsets", exc)  # fmt: skip
            self.rewind()

    def forget_pause(self) -> None:
        """After a rebalance: the new assignment starts unpaused."""
        self._paused = False
        self._held_back = set()

    def rewind(self) -> None:
        """Read the assigned partitions again from their committed offsets (from the
        beginning where none is committed: the consumer's ``auto.offset.reset``)."""
        assert self.consumer is not None
        assignment = self.consumer.assignment()
        if assignment:
            for tp in self.consumer.committed(assignment, timeout=30):
                if tp.offset < 0:
                    tp = TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING)
                self.consumer.seek(tp)
