"""The sink's own Kafka consumer: facts in batches, offsets committed after ClickHouse.

The sink does not run as a Faust agent. Faust's flow control pauses a partition whose
stream buffer fills and, across a rebalance (as after a worker was SIGKILLed), could
leave it paused for good; the sink always has a backlog after a crash, so it reads the
``facts`` topic with a plain aiokafka consumer in its own group (``<app_id>-sink``):

    fetch a batch -> FactSink.flush (ClickHouse acknowledged) -> commit those offsets

Invariant: an offset is committed only after every fact before it is durable in
ClickHouse. On a revocation the buffered facts are flushed and committed first, after
any batch already on its way (one flush-and-commit at a time); on a crash nothing
buffered is committed, so those facts are read again (writes are idempotent).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import Executor
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from .facts import Fact
from .lag import partition_lag
from .sink import FactSink

log = logging.getLogger(__name__)


class SinkConsumer:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group_id: str,
        sink: FactSink,
        executor: Executor,
        batch_size: int,
        batch_seconds: float,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._group_id = group_id
        self._sink = sink
        self._executor = executor
        self._batch_size = batch_size
        self._batch_seconds = batch_seconds
        self._buffer: list[Fact] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._flushing = asyncio.Lock()

    async def run(self) -> None:
        """Consume until cancelled; cancellation drops (does not commit) the buffer."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap.split(","),
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._batch_size,
        )
        consumer.subscribe([self._topic], listener=_FlushOnRevoke(self))
        self._consumer = consumer
        await consumer.start()
        try:
            first_at: float | None = None
            while True:
                records = await consumer.getmany(timeout_ms=int(self._batch_seconds * 1000 / 2))
                for batch in records.values():
                    self._buffer.extend(_decode(r.value) for r in batch)
                if self._buffer and first_at is None:
                    first_at = time.monotonic()
                due = first_at is not None and (
                    len(self._buffer) >= self._batch_size
                    or time.monotonic() - first_at >= self._batch_seconds
                )
                if due:
                    await self.flush_and_commit()
                    first_at = None
        finally:
            self._consumer = None
            await consumer.stop()

    async def flush_and_commit(self) -> None:
        # One at a time: a revocation arriving while a batch is on its way to ClickHouse
        # must not commit the positions past that batch before it is durable.
        async with self._flushing:
            consumer = self._consumer
            if consumer is None:
                return
            if self._buffer:
                batch, self._buffer = self._buffer, []
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._executor, self._sink.flush, batch)
            # Positions are just past the records fetched, all of which are now in ClickHouse.
            await consumer.commit()

    async def lags(self) -> dict[tuple[str, int], int | None]:
        """Per assigned partition: high watermark minus committed offset (see lag.py)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        lags: dict[tuple[str, int], int | None] = {}
        for tp in consumer.assignment():
            # committed() answers from the consumer's cache for assigned partitions
            committed = await consumer.committed(tp)
            lags[(tp.topic, tp.partition)] = partition_lag(consumer.highwater(tp), committed)
        return lags


class _FlushOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: SinkConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if revoked:
            await self._owner.flush_and_commit()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("sink assigned %s", sorted(tp.partition for tp in assigned))


def _decode(value: bytes | None) -> Fact:
    data: Any = json.loads(value or b"{}")
    return data  # type: ignore[no-any-return]
