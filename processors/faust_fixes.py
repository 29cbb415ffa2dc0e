"""Corrections to faust-streaming 0.15.3 that the delivery guarantee depends on.

Faust writes table changes to their changelog topics through a producer buffer
(``send_soon``) and, before committing offsets, calls ``ProducerBuffer.flush``. That
flush gives up after 0.1 s without a message leaving the buffer, and it does not
wait for the message its sender task has already taken off the queue. Offsets can
then be committed while changelog writes of the events they cover are still in this
process: after a SIGKILL the restored tables miss those writes (a click seen, a
lead's state) although their events are never replayed, and the pipeline's output
silently diverges (a form attributed by utm instead of its click).

Invariant restored here: when ``ProducerBuffer.flush`` returns, every message put
into the buffer before the call has been acknowledged by Kafka (or flush raised).
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.producer import ProducerBuffer

_UNACKED = "_funnelwatch_unacked"
#: a flush that cannot finish fails (so no offset is committed) instead of hanging
FLUSH_TIMEOUT_SECONDS = 60.0
_installed = False


def install() -> None:
    """Patch Faust once per process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    original_put = ProducerBuffer.put
    original_flush = ProducerBuffer.flush

    def put(self: ProducerBuffer, fut: Any) -> None:
        unacked: set[asyncio.Future[Any]] = self.__dict__.setdefault(_UNACKED, set())
        unacked.add(fut)
        fut.add_done_callback(unacked.discard)
        original_put(self, fut)

    async def flush(self: ProducerBuffer) -> None:
        await original_flush(self)
        unacked: set[asyncio.Future[Any]] = self.__dict__.get(_UNACKED, set())
        if unacked:
            # gather raises the first send error: the commit that called us must fail
            await asyncio.wait_for(asyncio.gather(*list(unacked)), FLUSH_TIMEOUT_SECONDS)

    ProducerBuffer.put = put  # type: ignore[method-assign]
    ProducerBuffer.flush = flush  # type: ignore[method-assign]
