"""What a rejected record carries to the dead-letter topic: its own bytes, and why."""

from __future__ import annotations

from funnelwatch.schemas.contracts import InvalidEvent

Headers = list[tuple[str, bytes]]

#: longest error text kept in a header (a record with a thousand problems stays small)
MAX_ERROR_CHARS = 2000


def dead_letter_headers(exc: InvalidEvent, topic: str, partition: int, offset: int) -> Headers:
    return [
        ("reason", exc.reason.encode()),
        ("error", str(exc)[:MAX_ERROR_CHARS].encode()),
        ("source_topic", topic.encode()),
        ("source_partition", str(partition).encode()),
        ("source_offset", str(offset).encode()),
    ]
