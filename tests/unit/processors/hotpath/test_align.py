"""Reading a backlog parents first: children newer than their parents' frontier wait."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from funnelwatch.processors.hotpath import align
from funnelwatch.processors.hotpath.align import Aligner, by_partition

CLICKS, FORMS, CRM, BY_LEAD = "clicks", "forms", "crm", "by-lead"
MAX_PAUSE = 10.0


@dataclass(frozen=True)
class Rec:
    """What the aligner reads of a Kafka record."""

    topic_: str
    partition_: int
    offset_: int
    ts: int

    def topic(self) -> str | None:
        return self.topic_

    def partition(self) -> int | None:
        return self.partition_

    def offset(self) -> int | None:
        return self.offset_

    def timestamp(self) -> tuple[int, int]:
        return (1, self.ts)  # (create time, ms)


def recs(topic: str, partition: int, first_offset: int, *times: int) -> list[Rec]:
    return [Rec(topic, partition, first_offset + i, t) for i, t in enumerate(times)]


class Ends:
    """High watermarks: a partition has more to read below its end offset."""

    def __init__(self, **ends: int) -> None:
        self.ends: dict[tuple[str, int], int] = {}
        for name, end in ends.items():
            topic, partition = name.rsplit("_", 1)
            self.ends[(topic.replace("_", "-"), int(partition))] = end

    def __call__(self, tp: tuple[str, int], offset: int) -> bool:
        return self.ends.get(tp, 0) > offset


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(align, "time", c)
    return c


def aligner() -> Aligner:
    return Aligner((CLICKS, FORMS, CRM), MAX_PAUSE)


def offsets(records: list[Rec]) -> list[int]:
    return [r.offset_ for r in records]


def test_forms_newer_than_the_slowest_lagging_click_partition_are_held(clock: Clock) -> None:
    a = aligner()
    batch = [
        *recs(CLICKS, 0, 0, 1000, 1001, 1002, 1003, 1004),  # lagging: ends at 100
        *recs(CLICKS, 1, 0, 3000),  # lagging, further on
        *recs(CLICKS, 2, 0, 500),  # caught up: it does not hold anyone back
        *recs(FORMS, 0, 10, 900, 1004, 1005, 2000),
    ]
    ends = Ends(clicks_0=100, clicks_1=50, clicks_2=1, forms_0=14)
    runs, held = a.cut(batch, ends)
    assert offsets(runs[(FORMS, 0)]) == [10, 11]  # up to the frontier, 1004
    assert held == {(FORMS, 0): 12}
    assert offsets(runs[(CLICKS, 0)]) == [0, 1, 2, 3, 4]  # parents are never held
    assert a.ahead(ends) == {(FORMS, 0)}


def test_held_forms_are_released_when_their_clicks_catch_up(clock: Clock) -> None:
    a = aligner()
    ends = Ends(clicks_0=100, forms_0=14)
    a.cut([*recs(CLICKS, 0, 0, 1000), *recs(FORMS, 0, 10, 900, 2000)], ends)
    assert a.ahead(ends) == {(FORMS, 0)}
    # the clicks move on past the held form's time
    runs, held = a.cut(recs(CLICKS, 0, 1, 1500, 2100), ends)
    assert held == {}
    assert a.ahead(ends) == set()
    runs, held = a.cut(recs(FORMS, 0, 11, 2000), ends)
    assert (offsets(runs[(FORMS, 0)]), held) == ([11], {})


def test_forms_are_never_held_when_clicks_have_nothing_more_to_read(clock: Clock) -> None:
    a = aligner()
    ends = Ends(clicks_0=3, forms_0=100)  # every click read: live traffic
    runs, held = a.cut([*recs(CLICKS, 0, 0, 1000, 1001, 1002), *recs(FORMS, 0, 0, 99_999)], ends)
    assert held == {} and offsets(runs[(FORMS, 0)]) == [0]
    assert a.ahead(ends) == set()


def test_crm_events_wait_for_the_forms_frontier_too(clock: Clock) -> None:
    a = aligner()
    ends = Ends(clicks_0=2, forms_0=100, crm_0=100)  # clicks caught up, forms lagging
    batch = [*recs(CLICKS, 0, 0, 5000, 6000), *recs(FORMS, 0, 0, 1000),
             *recs(CRM, 0, 0, 999, 1000, 1001)]  # fmt: skip
    runs, held = a.cut(batch, ends)
    assert offsets(runs[(CRM, 0)]) == [0, 1]
    assert held == {(CRM, 0): 2}
    assert a.ahead(ends) == {(CRM, 0)}


def test_by_lead_is_never_held(clock: Clock) -> None:
    a = aligner()
    ends = Ends(clicks_0=100, by_lead_0=100)
    runs, held = a.cut([*recs(CLICKS, 0, 0, 1000), *recs(BY_LEAD, 0, 0, 10**12)], ends)
    assert held == {} and offsets(runs[(BY_LEAD, 0)]) == [0]
    assert a.ahead(ends) == set()


def test_a_partition_is_paused_at_most_max_pause_seconds(clock: Clock) -> None:
    a = aligner()
    ends = Ends(clicks_0=100, forms_0=100)
    a.cut([*recs(CLICKS, 0, 0, 1000), *recs(FORMS, 0, 0, 5000)], ends)
    assert a.ahead(ends) == {(FORMS, 0)}
    clock.now += MAX_PAUSE - 0.5
    assert a.ahead(ends) == {(FORMS, 0)}
    clock.now += 1.0  # the clicks are stuck: the forms go on regardless
    assert a.ahead(ends) == set()
    # and the forms fetched again are not cut again while the clicks stay stuck
    runs, held = a.cut(recs(FORMS, 0, 0, 5000, 5001), ends)
    assert (offsets(runs[(FORMS, 0)]), held) == ([0, 1], {})


def test_forgotten_partitions_hold_nothing_back(clock: Clock) -> None:
    a = aligner()
    ends = Ends(clicks_0=100, forms_0=100)
    a.cut([*recs(CLICKS, 0, 0, 1000), *recs(FORMS, 0, 0, 5000)], ends)
    a.forget([(CLICKS, 0)])  # revoked: its position no longer counts
    assert a.ahead(ends) == set()


def test_records_are_grouped_by_partition_in_the_order_given() -> None:
    batch = [*recs(FORMS, 1, 0, 1), *recs(CLICKS, 0, 5, 1), *recs(FORMS, 1, 1, 1, 1)]
    runs = by_partition(batch)
    assert list(runs) == [(FORMS, 1), (CLICKS, 0)]
    assert offsets(runs[(FORMS, 1)]) == [0, 1, 2]
