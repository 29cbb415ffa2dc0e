"""The producer-buffer flush that offset commits rely on (see processors/faust_fixes.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.producer import ProducerBuffer

from funnelwatch.processors import faust_fixes


class _SlowChannel:
    """Acknowledges each message after a delay longer than Faust's 0.1 s flush wait."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        async def ack() -> None:
            await asyncio.sleep(self.delay)
            fut.set_result("acked")

        asyncio.get_running_loop().create_task(ack())


class _Pending:
    def __init__(self, channel: _SlowChannel) -> None:
        self.channel = channel


class _Conf:
    producer_threaded = False


class _App:
    conf = _Conf()


async def _flush_with_slow_acks(delay: float) -> list[bool]:
    faust_fixes.install()
    buffer = ProducerBuffer()
    buffer.app = _App()  # type: ignore[assignment]
    await buffer.start()
    futures = []
    channel = _SlowChannel(delay)
    for _ in range(3):
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.message = _Pending(channel)  # type: ignore[attr-defined]
        buffer.put(fut)  # type: ignore[arg-type]
        futures.append(fut)
    await buffer.flush()
    done = [f.done() for f in futures]
    await buffer.stop()
    return done


def test_flush_returns_only_after_every_buffered_message_is_acknowledged() -> None:
    assert asyncio.run(_flush_with_slow_acks(0.3)) == [True, True, True]
