"""The checkpoint's order (fakes record it): facts durable, then waiting forms told, the
lead store saved, the producer flushed, the offsets committed, and the store told."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import pytest

from funnelwatch.processors.attribution.facts import Fact
from funnelwatch.processors.attribution.lead import LeadState
from funnelwatch.processors.hotpath.batch import (
    CLICK_ARRIVED,
    ClicksRead,
    Counts,
    FactColumns,
    Pending,
)
from funnelwatch.processors.hotpath.checkpoint import Checkpoint
from funnelwatch.processors.hotpath.config import Topics
from funnelwatch.processors.state.clicks import ClickCache
from tests.support.segments import CLICK_DIMS

TOPICS = Topics("clicks", "forms", "crm", "spend", "by-lead", "dead-letter", "rollup", partitions=4)
MINUTE = 1_795_910_400
SEGMENT = ("cmp-a", "google", "ag1", "mobile", "DE")

Log = list[tuple[Any, ...]]


class FakeClickHouse:
    def __init__(self, log: Log, waiting: list[tuple[Any, ...]]) -> None:
        self.log = log
        self.waiting = waiting

    def insert_columns(self, table: str, columns: Mapping[str, list[Any]]) -> None:
        self.log.append(("insert", table, len(next(iter(columns.values())))))

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        assert "waiting_forms" in sql
        self.log.append(("waiting?", params))
        return self.waiting


class FakeStore:
    def __init__(self, log: Log) -> None:
        self.log = log

    def save(self, part: int, states: Mapping[str, LeadState]) -> None:
        self.log.append(("save", part, sorted(states)))

    def set_applied(self, offsets: Mapping[tuple[str, int], int], max_version: int) -> None:
        self.log.append(("applied", dict(offsets)))


class FakeProducer:
    def __init__(self, log: Log) -> None:
        self.log = log

    def produce(self, topic: str, **kw: Any) -> None:
        self.log.append(("produce", topic, kw))


def checkpoint(
    log: Log, waiting: list[tuple[Any, ...]] | None = None, fail_insert: bool = False
) -> Checkpoint:
    client = FakeClickHouse(log, waiting or [])
    clicks = ClickCache(10)
    clicks.add("k1", SEGMENT)

    def run(work: Callable[[Any], Any]) -> Any:
        if fail_insert:
            log.append(("insert failed",))
            raise RuntimeError("ClickHouse down for good")
        return work(client)

    return Checkpoint(
        TOPICS,
        FakeStore(log),
        clicks,
        FakeProducer(log),
        run,
        lambda: log.append(("flush",)),
        lambda offsets: log.append(("commit", dict(offsets))),
    )


def pending() -> Pending:
    facts = FactColumns("click", CLICK_DIMS)
    click = {"minute": MINUTE, "event_id": "c1", "event_time_ms": MINUTE * 1000,
             "campaign_id": "cmp-a", "dim_values": list(SEGMENT[1:]),
             "click_id": "k1", "cost_micros": 5,
             "source_topic": "clicks", "source_partition": 0, "source_offset": 6}  # fmt: skip
    for name, value in click.items():
        facts.clicks[name].append(value)
    facts.leads.append(
        Fact(MINUTE + 60, "lead", "f1", (MINUTE + 60) * 1000, "cmp-utm", CLICK_DIMS,
             ("x", "y", "mobile", "DE"), "utm", "L1", "", 0, 0, 1, 9, "forms", 1, 3, 1)
    )  # fmt: skip
    return Pending(
        facts,
        states={1: {"L1": LeadState()}, 2: {}},
        clicks={"clicks": ClicksRead({0: (6, 6)}, {MINUTE})},
        commit={("clicks", 0): 7, ("forms", 1): 4},
        counts=Counts(),
    )


def steps(log: Log) -> list[Any]:
    return [entry[0] if entry[0] != "produce" else f"produce {entry[1]}" for entry in log]


def test_facts_are_durable_before_the_store_before_the_flush_before_the_commit() -> None:
    log: Log = []
    checkpoint(log).write(pending())
    assert steps(log) == ["insert", "waiting?", "save", "produce rollup", "flush", "commit",
                          "applied"]  # fmt: skip
    assert log[0] == ("insert", "funnel_facts", 2)
    assert log[2] == ("save", 1, ["L1"])  # partitions without changed states are not saved
    assert log[5] == ("commit", {("clicks", 0): 7, ("forms", 1): 4})
    # the store records only the offsets of the lead partitions' topics
    assert log[6] == ("applied", {("forms", 1): 4})


def test_the_rollup_notice_names_the_minutes_of_the_batch() -> None:
    log: Log = []
    checkpoint(log).write(pending())
    ((_, topic, kw),) = [e for e in log if e[0] == "produce"]
    assert (topic, kw["partition"]) == ("rollup", 0)
    assert msgspec.msgpack.decode(kw["value"]) == [MINUTE, MINUTE + 60]


def test_waiting_forms_of_the_batchs_clicks_are_told_to_their_leads_partition() -> None:
    log: Log = []
    waiting = [("k1", "f7", "L7", 3, MINUTE), ("k-unknown", "f8", "L8", 2, MINUTE)]
    checkpoint(log, waiting).write(pending())
    (_, params) = next(e for e in log if e[0] == "waiting?")
    assert params["topic"] == "clicks" and params["minutes"] == (MINUTE,)
    assert (params["p0"], params["a0"], params["b0"]) == (0, 6, 6)
    news = [e for e in log if e[:2] == ("produce", "by-lead")]
    assert len(news) == 1  # a click not in this worker's cache was not written by this batch
    kw = news[0][2]
    assert (kw["partition"], kw["key"], kw["headers"]) == (3, b"L7", [("kind", CLICK_ARRIVED)])
    assert tuple(msgspec.msgpack.decode(kw["value"])) == ("L7", "f7", *SEGMENT)
    # the news is produced before the store is saved and flushed with the batch
    assert steps(log).index("produce by-lead") < steps(log).index("save")
    assert steps(log).index("produce by-lead") < steps(log).index("flush")


def test_a_batch_without_facts_commits_without_clickhouse_or_notice() -> None:
    log: Log = []
    empty = Pending(FactColumns("click", CLICK_DIMS), {}, {}, {("forms", 0): 12}, Counts())
    checkpoint(log).write(empty)
    assert steps(log) == ["flush", "commit", "applied"]


def test_nothing_after_a_failed_fact_write_happens() -> None:
    log: Log = []
    with pytest.raises(RuntimeError):
        checkpoint(log, fail_insert=True).write(pending())
    assert steps(log) == ["insert failed"]
