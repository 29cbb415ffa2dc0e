"""Clicks as join state: the recent ones in memory, all of them in ClickHouse.

A click never changes, so the memory cache needs no invalidation: it only spares
ClickHouse lookups for forms that follow their click within the cache's reach (most
forms come within minutes). ``click_index`` (filled from the click facts by a
materialized view) is the complete, shared truth: a click is there exactly when its
fact is durable, whichever worker wrote it.
"""

from __future__ import annotations

from collections.abc import Collection

from funnelwatch.clickhouse import ClickHouse

from ..attribution.rules import Segment, Segmenter

#: ids per lookup statement: keeps each query far below ClickHouse's query size limit
LOOKUP_CHUNK = 2000

_LOOKUP = """
SELECT click_id, any(campaign_id), any(dim_names), any(dim_values)
FROM click_index
WHERE click_id IN %(ids)s
GROUP BY click_id
"""


class ClickCache:
    """The last ``capacity`` clicks this worker wrote, by click_id (oldest dropped first)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = max(1, capacity)
        self._clicks: dict[str, Segment] = {}
        # a ring of the ids in arrival order: dropping the oldest is O(1)
        self._ring: list[str | None] = [None] * self._capacity
        self._next = 0
        # one object per distinct segment: a million cached clicks share a few thousand
        self._segments: dict[tuple[str, ...], Segment] = {}

    def add(self, click_id: str, key: tuple[str, ...]) -> Segment:
        """Remember a click by its (campaign, *values); returns its (shared) segment."""
        segment = self._segments.get(key)
        if segment is None:
            if len(self._segments) > 4 * self._capacity:
                self._segments = {(s[0], *s[1]): s for s in self._clicks.values()}
            segment = self._segments[key] = Segment(key[0], key[1:])
        clicks = self._clicks
        if click_id not in clicks:
            ring, i = self._ring, self._next
            old = ring[i]
            if old is not None:
                del clicks[old]
            ring[i] = click_id
            self._next = (i + 1) % self._capacity
            clicks[click_id] = segment
        return segment

    def get(self, click_id: str) -> Segment | None:
        return self._clicks.get(click_id)

    def __len__(self) -> int:
        return len(self._clicks)


def lookup_clicks(
    client: ClickHouse, click_ids: Collection[str], segmenter: Segmenter
) -> dict[str, Segment]:
    """The durable clicks among ``click_ids``, by id, with the values of the segmenter's
    click dimensions."""
    ids = sorted(set(click_ids))
    found: dict[str, Segment] = {}
    for i in range(0, len(ids), LOOKUP_CHUNK):
        for row in client.execute(_LOOKUP, {"ids": tuple(ids[i : i + LOOKUP_CHUNK])}):
            found[str(row[0])] = segmenter.stored_click(str(row[1]), row[2], row[3])
    return found
