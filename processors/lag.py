"""Consumer lag of this worker, per assigned partition, as ``funnelwatch_consumer_lag``.

Lag is the log end offset (high watermark) minus the group's committed offset: the
records already in Kafka whose effects are not yet durable. The hot path's consumer
and the roller's feed it, each from its own assignment (high watermarks as last
fetched, committed offsets as last committed or read on assignment).

Invariant: a worker reports only partitions assigned to it right now; series of
partitions it lost in a rebalance are removed, so ``sum(funnelwatch_consumer_lag)``
over all workers counts every partition once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping

from confluent_kafka import Consumer, KafkaException

from . import metrics

log = logging.getLogger(__name__)

Partition = tuple[str, int]
#: seconds between two refreshes of a consumer's lag series
LAG_REFRESH_SECONDS = 5.0


def partition_lag(highwater: int | None, committed: int | None) -> int | None:
    """Records not committed yet; None while the high watermark is unknown.

    No committed offset yet (a new group, which reads from the earliest offset) counts
    every record of the partition as lag.
    """
    if highwater is None:
        return None
    return max(0, highwater - max(0, committed or 0))


class LagReporter:
    """Keeps the gauge's series for one consumer in step with its assignment."""

    def __init__(self) -> None:
        self._reported: set[Partition] = set()
        self._lock = threading.Lock()

    def report(self, lags: Mapping[Partition, int | None]) -> None:
        with self._lock:
            self._report(lags)

    def report_assignment(self, consumer: Consumer, committed: Mapping[Partition, int]) -> None:
        """The lag of every partition assigned to ``consumer`` (high watermarks as last
        fetched); none while the client cannot say."""
        lags: dict[Partition, int | None] = {}
        try:
            for tp in consumer.assignment():
                _, high = consumer.get_watermark_offsets(tp, cached=True)
                key = (tp.topic, tp.partition)
                lags[key] = partition_lag(high if high >= 0 else None, committed.get(key))
        except KafkaException as exc:
            log.debug("lag not available: %r", exc)
            lags = {}
        self.report(lags)

    def _report(self, lags: Mapping[Partition, int | None]) -> None:
        known = {tp: lag for tp, lag in lags.items() if lag is not None}
        for topic, partition in self._reported - known.keys():
            with contextlib.suppress(KeyError):  # never set: nothing to remove
                metrics.CONSUMER_LAG.remove(topic, str(partition))
        for (topic, partition), lag in known.items():
            metrics.CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(lag)
        self._reported = set(known)
