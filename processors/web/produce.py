"""Producing accepted HTTP events to Kafka, bounded in time.

Invariant: :func:`produce_acked` returns only once Kafka acknowledged every record
(the worker's producer sends with acks=all); otherwise, within ``timeout`` seconds, it
raises a 503 :class:`~.ingest.Rejection` telling the client to retry. Records of a
refused request may still reach Kafka later: event ids make the retry harmless (the
pipeline deduplicates by event_id), so a 503 never loses nor double-counts anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from .ingest import Rejection

log = logging.getLogger(__name__)


async def produce_acked(
    producer: Any, topic: str, records: Sequence[tuple[bytes, bytes]], timeout: float
) -> None:
    """Send (key, value) records to ``topic`` and wait for every acknowledgement."""

    async def send_all() -> None:
        futures = [
            await producer.send(topic, key, value, None, None, None) for key, value in records
        ]
        await asyncio.gather(*futures)

    try:
        await asyncio.wait_for(send_all(), timeout)
    except Exception as exc:
        reason = "no acknowledgement in time" if isinstance(exc, TimeoutError) else repr(exc)
        log.warning("ingest: Kafka did not acknowledge %d record(s): %s", len(records), reason)
        raise Rejection(
            503,
            "Kafka did not acknowledge the events; retry the request (event ids make a retry safe)",
        ) from None
