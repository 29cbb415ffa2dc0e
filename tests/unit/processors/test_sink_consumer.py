"""The sink's consumer commits no position before the facts before it are durable."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from funnelwatch.processors.sink_consumer import SinkConsumer


class _Consumer:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def commit(self) -> None:
        self.log.append("commit")


class _SlowSink:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.release = threading.Event()

    def flush(self, batch: list[Any]) -> None:
        self.release.wait(5)
        self.log.append(f"durable {len(batch)}")


def test_revocation_during_a_flush_commits_only_after_the_batch_is_durable() -> None:
    log: list[str] = []
    sink = _SlowSink(log)

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as executor:
            consumer = SinkConsumer("kafka:9092", "facts", "g", sink, executor, 10, 1.0)  # type: ignore[arg-type]
            consumer._consumer = _Consumer(log)  # type: ignore[assignment]
            consumer._buffer = [{}] * 3  # type: ignore[list-item]
            batch = asyncio.create_task(consumer.flush_and_commit())
            await asyncio.sleep(0.05)  # the batch is on its way to ClickHouse
            revoked = asyncio.create_task(consumer.flush_and_commit())
            await asyncio.sleep(0.05)
            sink.release.set()
            await asyncio.gather(batch, revoked)

    asyncio.run(scenario())
    assert log == ["durable 3", "commit", "commit"]
