"""Is the pipeline caught up? The group-wide lag the detectors wait on.

A backlog (a restart, a replay, a batch load) delivers the stages of one minute to
ClickHouse at very different times: clicks take fewer hops than leads (a form whose
click came late, or that was read away from its lead's owner, goes through by-lead)
and the partitions of one topic run apart, so while records are still in Kafka a
minute can look complete and settled in ClickHouse and yet miss most of its leads.
Only Kafka knows what is still in flight, so the detector service asks it.

A check compares, for every partition of every topic the pipeline consumes (sources
and by-lead in the workers' group, rollup in the roller's group), the group's
committed offset now with the log end offset of the previous check:

- ``caught_up`` is true when every partition has committed what the previous check
  saw in it, or holds at most ``max_lag`` records (records in flight between two
  commits of a healthy pipeline). This is scale-free: a pipeline that keeps up with
  any throughput passes, one draining a backlog fails until it has drained;
- anything unknown (the first check, a partition without a committed offset, Kafka
  unreachable) is not caught up: waiting is safe, judging half-loaded minutes is not.

The lag is the consumer group's, read from the broker, so it covers every member of
a group and a restarted worker that has no assignment yet.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from funnelwatch.streams.catalogue import TopicSpec

log = logging.getLogger(__name__)

Offsets = Mapping[TopicPartition, int]


def caught_up(
    committed: Offsets, ends: Offsets, previous_ends: Offsets | None, max_lag: int
) -> bool:
    """True when every partition of ``ends`` committed the previous check's end
    offset, or lags by at most ``max_lag`` records."""
    if previous_ends is None or not ends:
        return False
    for tp, end in ends.items():
        offset = committed.get(tp)
        if offset is None or offset < 0:
            if end > 0:
                return False  # never committed: all of it is backlog
            continue
        if offset < previous_ends.get(tp, end) and end - offset > max_lag:
            return False
    return True


class PipelineBacklog:
    """Committed and end offsets of the pipeline's consumer groups, from the broker."""

    def __init__(
        self, bootstrap: str, groups: Mapping[str, Sequence[TopicSpec]], max_lag: int
    ) -> None:
        self.bootstrap = bootstrap
        self.groups = {
            group: [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
            for group, topics in groups.items()
        }
        self.max_lag = max_lag
        self.admin: AIOKafkaAdminClient | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.previous: dict[TopicPartition, int] | None = None

    async def _start(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self.admin is None or self.consumer is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            await admin.start()
            await consumer.start()
            self.admin, self.consumer = admin, consumer
        return self.admin, self.consumer

    async def check(self) -> bool:
        """One check: is the pipeline caught up since the previous one?"""
        try:
            admin, consumer = await self._start()
            committed: dict[TopicPartition, int] = {}
            for group, partitions in self.groups.items():
                offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
                committed.update({tp: meta.offset for tp, meta in offsets.items()})
            every = [tp for partitions in self.groups.values() for tp in partitions]
            ends: dict[TopicPartition, int] = await consumer.end_offsets(every)
        except Exception as exc:  # Kafka away: unknown counts as a backlog
            log.warning("pipeline lag unknown, detectors wait: %r", exc)
            self.previous = None
            await self.close()
            return False
        ok = caught_up(committed, ends, self.previous, self.max_lag)
        self.previous = ends
        return ok

    async def close(self) -> None:
        admin, consumer, self.admin, self.consumer = self.admin, self.consumer, None, None
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()
