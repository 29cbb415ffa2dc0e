"""One batch through ``BatchProcessor.process`` and the checkpoint, on real ClickHouse
(both backends) and a real lead store; a fake producer records what would go to Kafka."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.hotpath.batch import (
    CLICK_ARRIVED,
    FORWARDED,
    BatchProcessor,
    Pending,
)
from funnelwatch.processors.hotpath.checkpoint import Checkpoint
from funnelwatch.processors.hotpath.config import HotPathConfig, Topics
from funnelwatch.processors.state.clicks import ClickCache
from funnelwatch.processors.state.leads import LeadStore
from funnelwatch.schemas.contracts import Limits
from funnelwatch.schemas.funnel import Funnel, load_funnel
from tests.support import events
from tests.support.clickhouse import make_fact, write_facts

pytestmark = pytest.mark.integration

PARTITIONS = 4
TOPICS = Topics("clicks", "forms", "crm", "spend", "by-lead", "dead-letter", "rollup", PARTITIONS)
NOW = float(int(time.time()) // 60 * 60)  # the batch's clock: events are an hour old
T = int(NOW * 1000) - 3_600_000
MINUTE = T // 60_000 * 60
LEAD = events.lead_in(1, PARTITIONS)  # owned by partition 1
OTHER = events.lead_in(2, PARTITIONS, "other")  # owned by partition 2


@dataclass
class Rec:
    topic_: str
    partition_: int
    offset_: int
    value_: bytes | None
    key_: bytes | None = None
    headers_: list[tuple[str, bytes]] | None = None

    def topic(self) -> str | None:
        return self.topic_

    def partition(self) -> int | None:
        return self.partition_

    def offset(self) -> int | None:
        return self.offset_

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self.headers_

    def error(self) -> None:
        return None


@dataclass
class RecordingProducer:
    calls: list[dict[str, Any]] = field(default_factory=list)

    def produce(self, topic: str, **kw: Any) -> None:
        self.calls.append({"topic": topic, **kw})

    def to(self, topic: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["topic"] == topic]


class Worker:
    """A batch processor and checkpoint with a recording producer and no consumer."""

    def __init__(self, client: ClickHouse, state_dir: Path, funnel: Funnel) -> None:
        config = HotPathConfig("unused:9092", "batch-test", TOPICS, funnel, Limits(), state_dir)
        self.client = client
        self.store = LeadStore(state_dir, cache_size=1000)
        self.cache = ClickCache(1000)
        self.producer = RecordingProducer()
        self.commits: list[dict[tuple[str, int], int]] = []

        def run(work: Callable[[ClickHouse], Any]) -> Any:
            return work(client)

        self.processor = BatchProcessor(config, self.store, self.cache, self.producer, run,
                                        clock=lambda: NOW)  # fmt: skip
        self.checkpoint = Checkpoint(TOPICS, self.store, self.cache, self.producer, run,
                                     lambda: None, self.commits.append)  # fmt: skip

    def process(self, *records: Rec) -> Pending:
        runs: dict[tuple[str, int], list[Rec]] = {}
        for r in records:
            runs.setdefault((r.topic_, r.partition_), []).append(r)
        return self.processor.process(runs)

    def batch(self, *records: Rec) -> Pending:
        """Process and checkpoint, as the hot path does."""
        pending = self.process(*records)
        self.checkpoint.write(pending)
        return pending

    def facts(self) -> dict[tuple[str, str], tuple[Any, ...]]:
        """(stage, event_id) -> the newest fact's attribution, campaign, device, counted."""
        rows = self.client.execute(
            "SELECT stage, event_id, attribution, campaign_id, "
            "dim_values[indexOf(dim_names, 'device')], counted, lead_partition, "
            "source_topic, source_partition, source_offset FROM funnel_facts FINAL"
        )
        return {(str(r[0]), str(r[1])): tuple(r[2:]) for r in rows}


@pytest.fixture
def worker(client: ClickHouse, tmp_path: Path) -> Iterator[Worker]:
    w = Worker(client, tmp_path / "state", load_funnel())
    yield w
    w.store.close()


def lead_rows(pending: Pending) -> list[tuple[Any, ...]]:
    return sorted((f.stage, f.event_id, f.attribution, f.campaign_id, f.counted)
                  for f in pending.facts.leads)  # fmt: skip


def test_clicks_become_facts_where_they_are_read(worker: Worker) -> None:
    records = [Rec("clicks", 2, 5 + i, events.click(f"c{i}", f"k{i}", T + i, cost_micros=10 + i),
                   key_=f"k{i}".encode()) for i in range(3)]  # fmt: skip
    pending = worker.batch(*records)
    columns = pending.facts.columns()
    assert columns["event_id"] == ["c0", "c1", "c2"]
    assert set(columns["stage"]) == {"click"} and set(columns["attribution"]) == {"click"}
    assert columns["cost_micros"] == [10, 11, 12]
    assert columns["source_offset"] == [5, 6, 7] and set(columns["source_partition"]) == {2}
    assert set(columns["version"]) == {1} and set(columns["lead_partition"]) == {0}
    assert pending.commit == {("clicks", 2): 8}
    assert pending.counts.events == {"ad_click": 3}
    assert pending.clicks["clicks"].offsets == {2: (5, 7)}
    assert worker.cache.get("k1") is not None
    assert worker.facts()[("click", "c1")] == ("click", "cmp-a", "mobile", 1, 0, "clicks", 2, 6)
    assert worker.commits == [{("clicks", 2): 8}]


def test_invalid_records_go_to_dead_letter_with_their_reason_and_origin(worker: Worker) -> None:
    records = [
        Rec("clicks", 0, 10, b"{truncated", key_=b"m1"),
        Rec("clicks", 0, 11, events.click("c1", "k1", T)),
        Rec("clicks", 0, 12, events.click("c2", "k2", int(NOW * 1000) + 3_600_000), key_=b"m2"),
        Rec("forms", 1, 3, None, key_=b"m3"),  # a tombstone
    ]
    pending = worker.batch(*records)
    dead = worker.producer.to("dead-letter")
    assert [(d["value"], d["key"]) for d in dead] == [
        (b"{truncated", b"m1"),
        (records[2].value_, b"m2"),
        (None, b"m3"),
    ]
    headers = dict(dead[0]["headers"])
    assert (headers["reason"], headers["source_topic"], headers["source_partition"],
            headers["source_offset"]) == (b"malformed_json", b"clicks", b"0", b"10")  # fmt: skip
    assert dict(dead[1]["headers"])["reason"] == b"future_event_time"
    assert pending.counts.dead == {
        ("malformed_json", "clicks"): 1,
        ("future_event_time", "clicks"): 1,
        ("empty", "forms"): 1,
    }
    assert set(worker.facts()) == {("click", "c1")}  # the valid record goes on
    assert pending.commit == {("clicks", 0): 13, ("forms", 1): 4}  # rejected ones are done too


@pytest.mark.parametrize(
    ("topic", "value", "stage"),
    [
        ("forms", events.form("f1", LEAD, T, utm_campaign="cmp-utm"), "lead"),
        ("crm", events.crm("x1", LEAD, "contacted", T), "contacted"),
    ],
)
def test_a_lead_event_read_outside_its_owner_partition_is_forwarded_not_counted(
    worker: Worker, topic: str, value: bytes, stage: str
) -> None:
    pending = worker.batch(Rec(topic, 3, 40, value, key_=LEAD.encode()))
    (forwarded,) = worker.producer.to("by-lead")
    assert (forwarded["value"], forwarded["key"], forwarded["partition"]) == (
        value,
        LEAD.encode(),
        1,
    )
    assert dict(forwarded["headers"]) == {
        "kind": FORWARDED,
        "source_topic": topic.encode(),
        "source_partition": b"3",
        "source_offset": b"40",
    }
    assert len(pending.facts) == 0 and worker.store.count() == 0 and worker.facts() == {}
    assert pending.commit == {(topic, 3): 41}

    # its owner reads it from by-lead, as if read where it was first
    record = Rec("by-lead", 1, 0, value, key_=LEAD.encode(), headers_=forwarded["headers"])
    at_owner = worker.batch(record)
    (fact,) = at_owner.facts.leads
    assert (fact.stage, fact.lead_partition) == (stage, 1)
    assert (fact.source_topic, fact.source_partition, fact.source_offset) == (topic, 3, 40)
    assert at_owner.counts.events == {}  # counted once, where it was read
    assert worker.store.count(1) == 1


def test_a_form_whose_click_is_in_the_cache_is_attributed_by_the_click(worker: Worker) -> None:
    worker.batch(Rec("clicks", 0, 0, events.click("c1", "k1", T - 5000, "cmp-click",
                                                  device="tablet")))  # fmt: skip
    pending = worker.batch(Rec("forms", 1, 0, events.form("f1", LEAD, T, "k1",
                                                          utm_campaign="cmp-utm")))  # fmt: skip
    assert lead_rows(pending) == [("lead", "f1", "click", "cmp-click", 1)]
    assert worker.facts()[("lead", "f1")][:3] == ("click", "cmp-click", "tablet")
    assert worker.client.execute("SELECT count() FROM waiting_forms")[0][0] == 0
    assert pending.counts.attributions == {"click": 1}


def test_a_form_whose_click_another_worker_wrote_is_attributed_by_it(worker: Worker) -> None:
    write_facts(worker.client, [make_fact(MINUTE, "click", "c9", "cmp-far", click_id="k9")])
    pending = worker.batch(Rec("forms", 1, 0, events.form("f1", LEAD, T, "k9",
                                                          utm_campaign="cmp-utm")))  # fmt: skip
    assert lead_rows(pending) == [("lead", "f1", "click", "cmp-far", 1)]
    assert worker.client.execute("SELECT count() FROM waiting_forms")[0][0] == 0


def test_a_form_whose_click_is_unknown_waits_for_it_and_counts_by_utm(worker: Worker) -> None:
    pending = worker.batch(Rec("forms", 1, 0, events.form("f1", LEAD, T, "k-late",
                                                          utm_campaign="cmp-utm")))  # fmt: skip
    assert lead_rows(pending) == [("lead", "f1", "utm", "cmp-utm", 1)]
    waiting = worker.client.execute(
        "SELECT click_id, event_id, lead_id, lead_partition, toUInt32(minute) FROM waiting_forms"
    )
    assert [tuple(r) for r in waiting] == [("k-late", "f1", LEAD, 1, MINUTE)]


def test_a_late_clicks_news_reattributes_the_waiting_form(worker: Worker) -> None:
    worker.batch(Rec("forms", 1, 0, events.form("f1", LEAD, T, "k-late", utm_campaign="cmp-utm")))
    worker.batch(Rec("crm", 1, 0, events.crm("x1", LEAD, "contacted", T + 60_000)))
    # the click arrives: its checkpoint finds the waiting form and tells the lead's owner
    worker.batch(Rec("clicks", 3, 7, events.click("c1", "k-late", T - 1000, "cmp-click")))
    (news,) = [c for c in worker.producer.to("by-lead") if dict(c["headers"])["kind"] ==
               CLICK_ARRIVED]  # fmt: skip
    assert (news["partition"], news["key"]) == (1, LEAD.encode())

    pending = worker.batch(Rec("by-lead", 1, 0, news["value"], key_=news["key"],
                               headers_=news["headers"]))  # fmt: skip
    assert lead_rows(pending) == [("contacted", "x1", "click", "cmp-click", 1),
                                  ("lead", "f1", "click", "cmp-click", 1)]  # fmt: skip
    assert pending.counts.reattributed == {"click": 1}
    facts = worker.facts()
    assert facts[("lead", "f1")][:2] == facts[("contacted", "x1")][:2] == ("click", "cmp-click")
    # the same news again (a replay) changes nothing, and names the lead's minutes again
    again = worker.process(Rec("by-lead", 1, 1, news["value"], key_=news["key"],
                               headers_=news["headers"]))  # fmt: skip
    assert len(again.facts) == 0 and again.counts.reattributed == {}
    assert again.minutes == {T // 60_000 * 60, (T + 60_000) // 60_000 * 60}


def test_a_crm_event_before_its_form_follows_the_form_once_it_arrives(worker: Worker) -> None:
    first = worker.batch(Rec("crm", 1, 0, events.crm("x1", LEAD, "won", T + 60_000, 9_000_000)))
    assert lead_rows(first) == [("won", "x1", "none", "(unattributed)", 1)]
    assert first.counts.crm_without_lead == 1
    second = worker.batch(Rec("forms", 1, 0, events.form("f1", LEAD, T, utm_campaign="cmp-u")))
    assert lead_rows(second) == [("lead", "f1", "utm", "cmp-u", 1), ("won", "x1", "utm", "cmp-u",
                                                                       1)]  # fmt: skip
    assert second.counts.reattributed == {"lead": 1}


def test_a_duplicate_event_in_a_later_batch_writes_nothing(worker: Worker) -> None:
    value = events.form("f1", LEAD, T, utm_campaign="cmp-utm")
    worker.batch(Rec("forms", 1, 0, value))
    again = worker.batch(
        Rec("forms", 1, 1, value),
        Rec(
            "by-lead",
            1,
            0,
            value,
            headers_=[
                ("kind", FORWARDED),
                ("source_topic", b"forms"),
                ("source_partition", b"0"),
                ("source_offset", b"9"),
            ],
        ),
    )
    assert len(again.facts) == 0 and again.states.get(1, {}) == {}
    assert again.commit == {("forms", 1): 2, ("by-lead", 1): 1}
    # ... but it names the lead's minutes in the rollup notice again: the first batch
    # may have died after saving the state and before its notice
    assert again.minutes == {T // 60_000 * 60}


def test_a_replay_after_the_state_was_saved_announces_every_minute_of_the_lead(
    worker: Worker,
) -> None:
    form = Rec("forms", 1, 0, events.form("f1", LEAD, T, utm_campaign="cmp-utm"))
    crm = Rec("crm", 1, 0, events.crm("x1", LEAD, "won", T + 3_600_000, 5))
    first = worker.process(form, crm)
    # killed after the facts and the state were written, before the notice and commit
    worker.client.insert_columns("funnel_facts", first.facts.columns())
    for partition, states in first.states.items():
        worker.store.save(partition, states)
    replay = worker.batch(form, crm)
    assert len(replay.facts) == 0
    assert replay.minutes == first.minutes == {T // 60_000 * 60, (T + 3_600_000) // 60_000 * 60}
    (notice,) = worker.producer.to("rollup")
    assert msgspec.msgpack.decode(notice["value"]) == sorted(first.minutes)


def test_a_record_on_by_lead_without_a_workers_header_is_read_as_a_source_record(
    worker: Worker,
) -> None:
    value = events.form("f1", LEAD, T, utm_campaign="cmp-utm")
    pending = worker.batch(Rec("by-lead", 1, 4, value, key_=LEAD.encode()))
    assert lead_rows(pending) == [("lead", "f1", "utm", "cmp-utm", 1)]
    assert pending.counts.events == {"form_submission": 1}
    assert worker.facts()[("lead", "f1")][-3:] == ("by-lead", 1, 4)


def test_leads_of_two_partitions_in_one_batch_are_kept_apart(worker: Worker) -> None:
    pending = worker.batch(
        Rec("forms", 1, 0, events.form("f1", LEAD, T, utm_campaign="cmp-1")),
        Rec("forms", 2, 0, events.form("f2", OTHER, T, utm_campaign="cmp-2")),
    )
    assert {p: sorted(s) for p, s in pending.states.items()} == {1: [LEAD], 2: [OTHER]}
    assert worker.store.count(1) == worker.store.count(2) == 1
    facts = worker.facts()
    assert (facts[("lead", "f1")][4], facts[("lead", "f2")][4]) == (1, 2)  # lead_partition


NO_OUTCOMES = """
stages:
  - {name: click, event_type: ad_click}
  - {name: lead, event_type: form_submission}
  - {name: contacted, event_type: crm_event, statuses: [contacted]}
"""


def test_crm_events_of_a_status_the_funnel_ignores_produce_nothing(
    client: ClickHouse, tmp_path: Path
) -> None:
    path = tmp_path / "funnel.yaml"
    path.write_text(NO_OUTCOMES)
    w = Worker(client, tmp_path / "state", load_funnel(path))
    try:
        pending = w.batch(Rec("crm", 1, 5, events.crm("x1", LEAD, "lost", T)),
                          Rec("crm", 1, 6, events.crm("x2", LEAD, "won", T, 10)))  # fmt: skip
        assert len(pending.facts) == 0 and w.store.count() == 0
        assert w.producer.calls == [] and w.facts() == {}
        assert pending.counts.events == {"crm_event": 2}  # valid, only not a funnel stage
        assert pending.commit == {("crm", 1): 7}
    finally:
        w.store.close()


def test_the_newest_event_time_per_event_type_is_reported_not_the_clock(worker: Worker) -> None:
    clicks = [Rec("clicks", 0, i, events.click(f"c{i}", f"k{i}", T + 1000 * (2 - i)))
              for i in range(3)]  # fmt: skip
    form = Rec("forms", 1, 0, events.form("f1", LEAD, T + 500, "k0"))
    pending = worker.process(*clicks, form)
    assert pending.counts.last_event_time == {
        "ad_click": (T + 2000) / 1000,
        "form_submission": (T + 500) / 1000,
    }
