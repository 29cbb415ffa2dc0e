"""Reading a backlog in the order events happen, by holding back topics that run ahead.

A consumer draining a backlog reads small topics faster than big ones: one fetch brings
a fixed number of bytes per partition, minutes of forms but seconds of clicks, so the
forms of an hour arrive before the clicks they name, the CRM events before their forms.
The result is still exact (late parents re-attribute their children), but each such
pair costs a waiting row, a by-lead message and a second write of the lead.

Topics are ranked parents first (clicks, forms, CRM events). A record of a topic is held
back while it is newer (record time) than the *frontier* of the topics ranked before
it: the oldest position among their partitions that still have records to read. A
child is produced after its parent, so once the frontier has passed a child's time,
its parent has been read, whatever partition it is in. :meth:`Aligner.cut` keeps held
records out of a batch (the loop seeks those partitions back and pauses them);
:meth:`Aligner.ahead` says between batches which partitions to keep paused.

Parents are never held back; a topic whose parents have nothing left to read is not
either, so live traffic never waits. ``by-lead`` is not ranked (its records are as old as
their forwarding, not as their events). A pause lasts at most ``max_pause_seconds``: a
stuck partition never stops its children for long. Order changes nothing of the
result, only its cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

TopicPartition = tuple[str, int]


class Timed(Protocol):
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def timestamp(self) -> tuple[int, int]: ...


R = TypeVar("R", bound=Timed)
#: whether a partition has records at or after this offset
HasMore = Callable[[TopicPartition, int], bool]


def by_partition(records: Sequence[R]) -> dict[TopicPartition, list[R]]:
    """Records grouped by partition, each group in the order given (offset order)."""
    runs: dict[TopicPartition, list[R]] = {}
    current: list[R] | None = None
    key: TopicPartition | None = None
    for r in records:
        tp = (r.topic() or "", r.partition() or 0)
        if tp != key:
            key = tp
            current = runs.get(tp)
            if current is None:
                current = runs[tp] = []
        assert current is not None
        current.append(r)
    return runs


class Aligner:
    def __init__(self, ranked: Sequence[str], max_pause_seconds: float) -> None:
        self._rank = {topic: i for i, topic in enumerate(ranked)}
        self._max_pause = max_pause_seconds
        #: per partition: (record time of its next record, or of the last one read; next offset)
        self._at: dict[TopicPartition, tuple[int, int]] = {}
        self._since: dict[TopicPartition, float] = {}

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self._at.pop(tp, None)
            self._since.pop(tp, None)

    def _limits(
        self, at: dict[TopicPartition, tuple[int, int]], has_more: HasMore
    ) -> list[int | None]:
        """Per rank, the record time its records may not pass (None: no limit)."""
        frontier: list[int | None] = [None] * len(self._rank)
        for tp, (ts, nxt) in at.items():
            rank = self._rank[tp[0]]
            if has_more(tp, nxt):
                known = frontier[rank]
                frontier[rank] = ts if known is None else min(known, ts)
        limits: list[int | None] = []
        limit: int | None = None
        for f in frontier:
            limits.append(limit)
            if f is not None:
                limit = f if limit is None else min(limit, f)
        return limits

    def cut(
        self, records: Sequence[R], has_more: HasMore
    ) -> tuple[dict[TopicPartition, list[R]], dict[TopicPartition, int]]:
        """The batch's records to process now, per partition in offset order, and for each
        partition held back the first offset kept out."""
        runs = by_partition(records)
        rank = self._rank
        at = dict(self._at)
        for tp, run in runs.items():
            if tp[0] in rank:
                last = run[-1]
                at[tp] = (last.timestamp()[1], (last.offset() or 0) + 1)
        limits = self._limits(at, has_more)
        held: dict[TopicPartition, int] = {}
        now = time.monotonic()
        for tp, run in runs.items():
            if tp[0] not in rank:
                continue
            limit = limits[rank[tp[0]]]
            since = self._since.get(tp)
            if since is not None and now - since >= self._max_pause:
                limit = None  # held for long enough: its parents may never come
            if limit is not None and run[-1].timestamp()[1] > limit:
                for i, r in enumerate(run):
                    ts = r.timestamp()[1]
                    if ts > limit:
                        self._since.setdefault(tp, now)
                        held[tp] = offset = r.offset() or 0
                        self._at[tp] = (ts, offset)
                        del run[i:]
                        break
                    self._at[tp] = (ts, (r.offset() or 0) + 1)
            else:
                self._at[tp] = at[tp]
                self._since.pop(tp, None)
        return runs, held

    def ahead(self, has_more: HasMore) -> set[TopicPartition]:
        """The partitions to keep paused now."""
        limits = self._limits(self._at, has_more)
        now = time.monotonic()
        paused = set()
        for tp, (ts, _) in self._at.items():
            limit = limits[self._rank[tp[0]]]
            if limit is not None and ts > limit:
                since = self._since.setdefault(tp, now)
                if now - since < self._max_pause:
                    paused.add(tp)
            else:
                self._since.pop(tp, None)
        return paused
