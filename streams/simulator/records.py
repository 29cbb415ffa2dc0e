"""The unit of simulator output, and the wire encoding of event values.

Invariants:
- a :class:`SentRecord` is exactly what goes to Kafka: ``key`` and ``value`` are the
  bytes sent, ``topic_key`` names the source topic in the catalogue;
- ``valid`` is what :func:`funnelwatch.schemas.contracts.validate_raw` will decide,
  and ``reason`` (for invalid records) the category it will report;
- a duplicate has the same topic, key and value bytes as an earlier record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

TopicKey = Literal["clicks", "forms", "crm", "spend"]
TOPIC_KEYS: tuple[TopicKey, ...] = ("clicks", "forms", "crm", "spend")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One record in send order.

    For a malformed record ``event_id`` is its unique marker: a token that also is the
    record key and appears verbatim in the value bytes (as the event_id where the kind
    has one), so a test can find the record in the dead-letter topic.
    """

    topic_key: TopicKey
    key: bytes
    value: bytes
    event_id: str | None
    valid: bool
    reason: str | None
    duplicate: bool


@dataclass(frozen=True, slots=True)
class TimedRecord:
    """A record with the simulated time (epoch ms) at which it is sent; the live mode
    paces on ``send_ms``. A record is never sent before its own event time."""

    send_ms: int
    record: SentRecord


def iso_ms(ms: int) -> str:
    """Wire form of an event time: ISO 8601 UTC with milliseconds and a trailing Z."""
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")[:-6] + "Z"


def encode(payload: dict[str, Any]) -> bytes:
    """Compact JSON, in the field order given (the contract's order)."""
    return json.dumps(payload, separators=(",", ":")).encode()
