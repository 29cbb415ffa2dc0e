"""Consumer lag of this worker, per assigned partition, as ``funnelwatch_consumer_lag``.

Lag is the log end offset (high watermark) minus the group's committed offset: the
records already in Kafka whose effects are not yet durable. Two consumers feed it:

- the Faust consumer of the agents: high watermark from its fetcher (from the broker
  for a partition not fetched yet), committed offset from Faust's monitor
  (``app.monitor.tp_committed_offsets``, updated on every commit), else the fetch
  position (equal to the committed offset right after an assignment);
- the sink's own aiokafka consumer (``SinkConsumer.offsets``).

Invariant: a worker reports only partitions assigned to it right now; series of
partitions it lost in a rebalance are removed, so ``sum(funnelwatch_consumer_lag)``
over all workers counts every partition once. Changelog topics of tables are left out:
the worker writes them and reads them only to recover, so "lag" there means nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import metrics

if TYPE_CHECKING:
    from .app import Pipeline

log = logging.getLogger(__name__)

#: seconds between two refreshes; a scrape sees values at most this old
REFRESH_SECONDS = 5.0

Partition = tuple[str, int]


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

    def report(self, lags: Mapping[Partition, int | None]) -> None:
        known = {tp: lag for tp, lag in lags.items() if lag is not None}
        for topic, partition in self._reported - known.keys():
            with contextlib.suppress(KeyError):  # never set: nothing to remove
                metrics.CONSUMER_LAG.remove(topic, str(partition))
        for (topic, partition), lag in known.items():
            metrics.CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(lag)
        self._reported = set(known)


def is_changelog(topic: str, excluded: Iterable[str]) -> bool:
    return topic.endswith("-changelog") or topic in set(excluded)


async def faust_lags(app: Any, excluded: Iterable[str]) -> dict[Partition, int | None]:
    """Lag of the partitions the agents' consumer holds (changelogs left out)."""
    consumer = app.consumer
    skip = set(excluded)
    committed: Mapping[Any, int] = app.monitor.tp_committed_offsets or {}
    lags: dict[Partition, int | None] = {}
    streams = [tp for tp in consumer.assignment() if not is_changelog(tp.topic, skip)]
    # A partition this consumer never fetched has no local high watermark; it is the one
    # most worth seeing (a stalled partition), so ask the broker for its end offset.
    highwaters = {tp: consumer.highwater(tp) for tp in streams}
    unfetched = [tp for tp, highwater in highwaters.items() if highwater is None]
    if unfetched:
        highwaters.update(await consumer.highwaters(*unfetched))
    for tp in streams:
        offset = committed.get(tp)
        if offset is None:
            offset = await consumer.position(tp)
        lags[(tp.topic, tp.partition)] = partition_lag(highwaters.get(tp), offset)
    return lags


def register(p: Pipeline) -> None:
    """Refresh the lag gauge of both consumers on a Faust timer."""
    agents_reporter, sink_reporter = LagReporter(), LagReporter()
    excluded = [t.name for t in p.catalogue.changelogs] + [p.catalogue.leader.name]

    @p.app.timer(REFRESH_SECONDS)  # type: ignore[untyped-decorator]
    async def refresh_consumer_lag() -> None:
        # A metric must never take the worker down: on an error (a rebalance under way)
        # the series go away until the next refresh, rather than stay at a stale value.
        try:
            agents_reporter.report(await faust_lags(p.app, excluded))
        except Exception as exc:
            log.debug("agents' consumer lag not available: %r", exc)
            agents_reporter.report({})
        try:
            sink_reporter.report(await p.sink_consumer.lags())
        except Exception as exc:
            log.debug("sink consumer lag not available: %r", exc)
            sink_reporter.report({})
