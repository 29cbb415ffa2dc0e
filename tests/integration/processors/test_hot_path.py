"""The hot path and the roller, in this process, on the real Kafka broker and ClickHouse:
simulated traffic (duplicates, late forms, malformed records) plus forms read outside
their lead's partition and clicks arriving after their forms, drained until the groups
committed everything; ``kpi_minute`` and ``conversion_rolling`` then equal the offline
oracle's sums. Two hot paths in one group split the partitions and stay exact; a
restart keeps its local lead store, another state directory rebuilds it from
ClickHouse, to the same states."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from funnelwatch.clickhouse import ClickHouse, connect
from funnelwatch.processors.app import hot_path_config
from funnelwatch.processors.attribution.lead import LeadState, decode_state
from funnelwatch.processors.hotpath.config import HotPathConfig
from funnelwatch.processors.hotpath.loop import HotPath
from funnelwatch.processors.rollup.progress import read_progress
from funnelwatch.processors.rollup.roller import Roller
from funnelwatch.processors.source.placement import PARTITIONER, owner_partition
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.schemas.segments import BUILT_IN_SEGMENTS
from funnelwatch.settings import Settings, load_settings
from funnelwatch.streams.admin import ensure_topics
from funnelwatch.streams.catalogue import catalogue
from funnelwatch.streams.simulator import SimulationConfig, default_campaigns, generate
from funnelwatch.streams.simulator.producer import send_records
from tests.support import events
from tests.support.clickhouse import drop_database, fresh_database, server_database_url
from tests.support.oracle import expected

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

PARTITIONS = 4
WINDOWS = (15, 60)
FUNNEL = load_funnel()
LOOP_LOG = "funnelwatch.processors.hotpath.loop"
DRAIN_TIMEOUT = 180.0


# ---- the data ---------------------------------------------------------------------------


@dataclass
class Traffic:
    """What was sent, for the oracle: every valid event in send order, and the count of
    records that must be dead-lettered."""

    events: list[dict[str, Any]] = field(default_factory=list)
    #: reason -> records the simulator made invalid for it
    rejected: Counter[str] = field(default_factory=Counter)

    def oracle_events(self) -> list[dict[str, Any]]:
        seen: set[str] = set()
        out = []
        for e in self.events:
            if e["event_id"] not in seen:
                seen.add(e["event_id"])
                out.append(e)
        return out


def minute_now() -> int:
    return int(time.time()) // 60 * 60


def send_simulated(settings: Settings, traffic: Traffic, seed: int, minutes: int = 60) -> None:
    """A backlog of simulated traffic ending half an hour ago (~300 records)."""
    end = datetime.fromtimestamp(minute_now() - 1800, UTC)
    config = SimulationConfig(
        seed=seed, start=end - timedelta(minutes=minutes), end=end,
        campaigns=default_campaigns(3), clicks_per_minute=4, diurnal=False, weekly=False,
        duplicate_rate=0.03, out_of_order_rate=0.3, malformed_rate=0.02,
    )  # fmt: skip
    records = list(generate(config))
    result = send_records(records, settings, log=lambda _: None)
    assert result.failed == 0 and result.sent == len(records)
    for r in records:
        if r.valid:
            traffic.events.append(json.loads(r.value))
        else:
            traffic.rejected[str(r.reason)] += 1


def produce(settings: Settings, traffic: Traffic,
            records: list[tuple[str, str, bytes, int | None]]) -> None:  # fmt: skip
    """Hand-made records: (topic key, key, value, partition or None for the key's own)."""
    names = {"clicks": catalogue(settings).clicks.name, "forms": catalogue(settings).forms.name,
             "crm": catalogue(settings).crm.name}  # fmt: skip
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap,
                         "partitioner": PARTITIONER, "enable.idempotence": True})  # fmt: skip
    for topic_key, key, value, partition in records:
        if partition is None:  # the key's own partition, by the Java partitioner
            producer.produce(names[topic_key], value=value, key=key.encode())
        else:
            producer.produce(names[topic_key], value=value, key=key.encode(), partition=partition)
        traffic.events.append(json.loads(value))
    assert producer.flush(30) == 0


def elsewhere(lead_id: str) -> int:
    """A partition that is not the lead's owner: its records there are forwarded."""
    return (int(owner_partition(lead_id, PARTITIONS)) + 1) % PARTITIONS


def waiting_leads(settings: Settings, traffic: Traffic, tag: str, n: int = 12) -> list[str]:
    """Leads whose forms name clicks not sent yet, read outside their owner partition, with
    CRM events in and outside it. Returns the click ids the forms wait for."""
    t = (minute_now() - 2400) * 1000
    records: list[tuple[str, str, bytes, int | None]] = []
    click_ids = []
    for i in range(n):
        lead_id, click_id = f"hand-{tag}-{i}", f"late-{tag}-{i}"
        click_ids.append(click_id)
        form = events.form(f"hf-{tag}-{i}", lead_id, t + i * 1000, click_id,
                           utm_campaign="cmp-utm", utm_source="mail")  # fmt: skip
        records.append(("forms", lead_id, form, elsewhere(lead_id)))
        records.append(("crm", lead_id, events.crm(f"hc-{tag}-{i}", lead_id, "contacted",
                                                   t + 600_000 + i), None))  # fmt: skip
        if i % 3 == 0:
            won = events.crm(f"hw-{tag}-{i}", lead_id, "won", t + 1_200_000 + i, 2_000_000)
            records.append(("crm", lead_id, won, elsewhere(lead_id)))
    produce(settings, traffic, records)
    return click_ids


def late_clicks(settings: Settings, traffic: Traffic, click_ids: list[str]) -> None:
    t = (minute_now() - 2500) * 1000  # before their forms, sent after them
    produce(settings, traffic, [
        ("clicks", cid, events.click(f"hk-{cid}", cid, t + i, "cmp-late", geo="IT"), None)
        for i, cid in enumerate(click_ids)
    ])  # fmt: skip


# ---- the stack ----------------------------------------------------------------------------


@dataclass
class Stack:
    settings: Settings
    config: HotPathConfig
    url: str
    client: ClickHouse
    fatal: list[BaseException] = field(default_factory=list)

    def connect(self) -> ClickHouse:
        return connect(self.url)

    def hot_path(self, state_dir: Path) -> HotPath:
        hp = HotPath(replace(self.config, state_dir=state_dir), self.connect, self.fatal.append)
        hp.start()
        return hp

    def roller(self) -> Roller:
        roller = Roller(self.config, self.connect, FUNNEL, WINDOWS, roll_interval=0.2,
                        on_fatal=self.fatal.append)  # fmt: skip
        roller.start()
        return roller

    def lag(self) -> int | None:
        """Records the two groups have not committed, over every topic they consume (None
        while the broker cannot tell: a fresh broker's coordinator is still loading)."""
        topics = self.config.topics
        groups = {self.config.group_id: list(topics.consumed), f"{self.config.group_id}-rollup":
                  [topics.rollup]}  # fmt: skip
        lag = 0
        for group, names in groups.items():
            checker = Consumer({"bootstrap.servers": self.config.bootstrap, "group.id": group,
                                "enable.auto.commit": False})  # fmt: skip
            try:
                parts = [TopicPartition(t, p) for t in names
                         for p in range(1 if t == topics.rollup else PARTITIONS)]  # fmt: skip
                for tp in checker.committed(parts, timeout=10):
                    _, high = checker.get_watermark_offsets(tp, timeout=10)
                    lag += high - max(tp.offset, 0)
            except KafkaException:
                return None
            finally:
                checker.close()
        return lag

    def wait_drained(self, timeout: float = DRAIN_TIMEOUT) -> float:
        """Until everything is committed and rolled up, twice a second apart; seconds."""
        started = time.monotonic()
        quiet = 0
        while time.monotonic() - started < timeout:
            assert not self.fatal, self.fatal
            if self.lag() == 0 and read_progress(self.client).dirty_from == 0:
                quiet += 1
                if quiet == 2:
                    return time.monotonic() - started
            else:
                quiet = 0
            time.sleep(1.0)
        raise AssertionError(f"not drained after {timeout}s: lag {self.lag()}, "
                             f"{read_progress(self.client)}")  # fmt: skip

    def assert_exact(self, traffic: Traffic) -> None:
        want = expected(traffic.oracle_events(), FUNNEL, WINDOWS)
        kpi = {
            (int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])): (int(r[5]), int(r[6]),
                                                                      int(r[7]))
            for r in self.client.execute(
                "SELECT toUInt32(minute), campaign_id, dim, dim_value, stage, events, "
                "cost_micros, revenue_micros FROM kpi_minute FINAL WHERE events > 0"
            )
        }  # fmt: skip
        assert kpi == want.kpi, diff(kpi, want.kpi)
        rolling = {
            (int(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), str(r[5]), str(r[6])):
                (int(r[7]), int(r[8]))
            for r in self.client.execute(
                "SELECT toUInt32(minute), campaign_id, dim, dim_value, window_minutes, "
                "from_stage, to_stage, from_events, to_events FROM conversion_rolling FINAL "
                "WHERE from_events + to_events > 0"
            )
        }  # fmt: skip
        assert rolling == want.rolling, diff(rolling, want.rolling)

    def dead_letters(self, expected_count: int) -> Counter[str]:
        """The reasons of the records in the dead-letter topic (read until the count)."""
        reader = Consumer({"bootstrap.servers": self.config.bootstrap, "enable.auto.commit":
                           False, "group.id": f"{self.config.group_id}-dlq-check"})  # fmt: skip
        topic = self.config.topics.dead_letter
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        reasons: Counter[str] = Counter()
        deadline = time.monotonic() + 30
        try:
            while sum(reasons.values()) < expected_count and time.monotonic() < deadline:
                reasons.update(reason(m) for m in reader.consume(1000, 0.5))
            reasons.update(reason(m) for m in reader.consume(1000, 1.0))  # nothing more
        finally:
            reader.close()
        return reasons


def reason(message: Message) -> str:
    assert message.error() is None
    value = dict(message.headers() or [])["reason"]
    assert isinstance(value, bytes)
    return value.decode()


def diff(got: dict[Any, Any], want: dict[Any, Any]) -> str:
    wrong = {k: (got.get(k), want.get(k)) for k in got.keys() | want.keys()
             if got.get(k) != want.get(k)}  # fmt: skip
    return f"{len(wrong)} rows differ (got, want): {dict(sorted(wrong.items())[:20])}"


def make_stack(bootstrap: str, url: str, client: ClickHouse, home: Path, **tuning: Any) -> Stack:
    name = f"hp-{uuid.uuid4().hex[:8]}"
    settings = load_settings(kafka_bootstrap=bootstrap, topic_prefix=name, app_id=name,
                             partitions=PARTITIONS, data_dir=home)  # fmt: skip
    ensure_topics(bootstrap, catalogue(settings).all())
    config = replace(hot_path_config(settings, catalogue(settings), FUNNEL, BUILT_IN_SEGMENTS),
                     batch_max_records=tuning.get("batch_max_records", 100),
                     batch_max_seconds=0.2, session_timeout_seconds=6.0,
                     retry_max_seconds=1.0)  # fmt: skip
    return Stack(settings, config, url, client)


@pytest.fixture
def database(
    clickhouse_url: str, request: pytest.FixtureRequest
) -> Iterator[tuple[str, ClickHouse]]:
    yield from _database(clickhouse_url, request)


@pytest.fixture
def server_database(
    clickhouse_server_url: str, request: pytest.FixtureRequest
) -> Iterator[tuple[str, ClickHouse]]:
    yield from _database(clickhouse_server_url, request)


@pytest.fixture
def chdb_database(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, ClickHouse]]:
    yield from _database(f"chdb://{tmp_path / 'chdb'}", request)


def _database(url: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, ClickHouse]]:
    name = f"hot_path_{uuid.uuid4().hex[:10]}"
    client = fresh_database(url, name)
    db_url = server_database_url(url, name) if url.startswith("clickhouse://") else url
    try:
        yield db_url, client
    finally:
        client.close()
        drop_database(url, name)


def stop(*threads: HotPath | Roller) -> None:
    for t in threads:
        t.stop()


# ---- the tests ----------------------------------------------------------------------------


def test_drained_backlog_gives_exactly_the_oracles_kpis(
    kafka_bootstrap: str, database: tuple[str, ClickHouse], tmp_path: Path,
    measured: Callable[[str], None],
) -> None:  # fmt: skip
    url, client = database
    stack = make_stack(kafka_bootstrap, url, client, tmp_path)
    traffic = Traffic()
    send_simulated(stack.settings, traffic, seed=21)
    waiting = waiting_leads(stack.settings, traffic, "a")
    hot, roller = stack.hot_path(tmp_path / "state"), stack.roller()
    try:
        first = stack.wait_drained()
        waited = client.execute(
            "SELECT count() FROM waiting_forms FINAL WHERE click_id LIKE 'late-a-%'"
        )
        assert int(waited[0][0]) == len(waiting)
        late_clicks(stack.settings, traffic, waiting)
        second = stack.wait_drained()
    finally:
        stop(hot, roller)
    assert not stack.fatal
    measured(f"{len(traffic.events)} events drained in {first:.1f}s, late clicks in "
             f"{second:.1f}s")  # fmt: skip
    stack.assert_exact(traffic)
    # the forms that waited ended attributed to their late clicks, CRM events with them
    late = client.execute(
        "SELECT stage, count() FROM funnel_facts FINAL WHERE lead_id LIKE 'hand-a-%' "
        "AND campaign_id = 'cmp-late' AND attribution = 'click' GROUP BY stage ORDER BY stage"
    )
    assert [tuple(r) for r in late] == [("contacted", 12), ("lead", 12), ("won", 4)]
    assert stack.dead_letters(traffic.rejected.total()) == traffic.rejected
    assert traffic.rejected.total() > 0


def test_two_hot_paths_in_one_group_split_the_partitions_and_stay_exact(
    kafka_bootstrap: str, server_database: tuple[str, ClickHouse], tmp_path: Path
) -> None:
    url, client = server_database
    stack = make_stack(kafka_bootstrap, url, client, tmp_path)
    traffic = Traffic()
    send_simulated(stack.settings, traffic, seed=22)
    waiting = waiting_leads(stack.settings, traffic, "b")
    state = tmp_path / "state"  # one data directory: each worker holds a slot of its own
    first_hot = stack.hot_path(state)
    workers: list[HotPath | Roller] = [first_hot, stack.roller()]
    try:
        assert first_hot.assigned.wait(60)
        workers += [stack.hot_path(state), stack.roller()]  # joins: a rebalance
        late_clicks(stack.settings, traffic, waiting)
        send_simulated(stack.settings, traffic, seed=23, minutes=20)
        stack.wait_drained()
        assignment = group_assignment(stack.config.bootstrap, stack.config.group_id)
    finally:
        stop(*workers)
    assert not stack.fatal
    assert len(assignment) == 2 and all(assignment.values())
    first, second = assignment.values()
    assert not first & second
    every = {(t, p) for t in stack.config.topics.consumed for p in range(PARTITIONS)}
    assert first | second == every
    # the range assignor keeps a partition number of every topic with one member
    for member in (first, second):
        numbers = {p for _, p in member}
        assert member == {(t, p) for t in stack.config.topics.consumed for p in numbers}
    stack.assert_exact(traffic)


def group_assignment(bootstrap: str, group: str) -> dict[str, set[tuple[str, int]]]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (description,) = [f.result(30) for f in admin.describe_consumer_groups([group]).values()]
    return {
        m.member_id: {(tp.topic, tp.partition) for tp in m.assignment.topic_partitions}
        for m in description.members
    }


def store_states(state_dir: Path) -> dict[tuple[int, str], LeadState]:
    (path,) = state_dir.glob("slot-*/leads.sqlite")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT part, lead_id, state FROM leads").fetchall()
    finally:
        db.close()
    return {(int(p), str(lead)): decode_state(blob) for p, lead, blob in rows}


def loop_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOOP_LOG and text in
            r.getMessage()]  # fmt: skip


def test_a_restart_keeps_its_lead_store_and_another_state_dir_rebuilds_it(
    kafka_bootstrap: str, chdb_database: tuple[str, ClickHouse], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger=LOOP_LOG)
    url, client = chdb_database
    stack = make_stack(kafka_bootstrap, url, client, tmp_path)
    traffic = Traffic()
    roller = stack.roller()
    mine, other = tmp_path / "state-1", tmp_path / "state-2"
    try:
        send_simulated(stack.settings, traffic, seed=24, minutes=30)
        waiting = waiting_leads(stack.settings, traffic, "c")
        hot = stack.hot_path(mine)
        stack.wait_drained()
        stop(hot)

        caplog.clear()
        late_clicks(stack.settings, traffic, waiting[:6])
        hot = stack.hot_path(mine)  # the same state dir: its store is the last owner
        stack.wait_drained()
        stop(hot)
        assert len(loop_lines(caplog, "local state kept")) == PARTITIONS
        assert loop_lines(caplog, "rebuilt") == []

        caplog.clear()
        late_clicks(stack.settings, traffic, waiting[6:])
        send_simulated(stack.settings, traffic, seed=25, minutes=10)
        hot = stack.hot_path(other)  # a new store: rebuilt from ClickHouse
        stack.wait_drained()
        stop(hot)
        rebuilt = loop_lines(caplog, "state rebuilt from ClickHouse")
        assert len(rebuilt) == PARTITIONS and loop_lines(caplog, "kept") == []
        assert any(" 0 leads" not in line for line in rebuilt)

        caplog.clear()
        hot = stack.hot_path(mine)  # back on the first store: another wrote since
        stack.wait_drained(timeout=60)
        stop(hot)
        assert len(loop_lines(caplog, "state rebuilt from ClickHouse")) == PARTITIONS
    finally:
        stop(roller)
    assert not stack.fatal
    stack.assert_exact(traffic)
    # the store kept up batch by batch and the one rebuilt from ClickHouse agree exactly
    incremental, restored = store_states(other), store_states(mine)
    assert incremental == restored
    leads = {e["lead_id"] for e in traffic.oracle_events() if "lead_id" in e}
    assert {lead for _, lead in restored} == leads
