"""The correctness invariant, end to end on real Kafka and both ClickHouse backends.

One simulated input of 200,000 records (1% duplicates, out-of-order CRM events, 0.5%
malformed) is generated once for the module and replayed into each variant's own
topics. After the workers drain, every per-minute KPI row and every rolling-conversion
row in ClickHouse equals the oracle computed from the ground-truth file, and every
malformed record is in the dead-letter topic with its reason. The variants: a clean
run and a SIGKILL mid-stream on both backends; on the ClickHouse server, three workers
with one SIGKILLed and one added while records arrive (three runs: it once failed one
run in three) and the server stopped for longer than the consumer's maximum poll
interval; and the broker restarted mid-stream. ``make e2e-million`` runs the clean
variant on 1,000,000 records.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from funnelwatch.clickhouse import connect
from funnelwatch.localstack.clickhouse_server import LocalClickHouseServer
from funnelwatch.localstack.kafka import LocalKafka
from funnelwatch.localstack.ports import free_port
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.streams.catalogue import catalogue
from tests.support.exactness import (
    SpendWindows,
    dead_letters,
    diff,
    pipeline_rows,
    spend_windows,
    spend_windows_wanted,
    value_bytes,
)
from tests.support.oracle import Expected, expected, valid_events
from tests.support.pipeline import PipelineEnv, stop

# A drain of 200,000 records takes seconds to a minute here depending on the machine's
# load; DRAIN_TIMEOUT is a stall, not a slow day.
DRAIN_TIMEOUT = 900
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(DRAIN_TIMEOUT + 600)]

# the issue asks for 200,000; FUNNELWATCH_E2E_EVENTS sets it (make e2e-million: 1,000,000)
EVENTS = int(os.environ.get("FUNNELWATCH_E2E_EVENTS", "200000"))
WINDOWS = (15, 60, 1440)
#: records per second of the replays that run while workers fail and join
STREAM_RATE = 20_000
#: the single worker's SIGKILL variant: slower, so that the kill at 30% committed comes
#: while records still arrive even when the worker starts slowly (a busy CI machine once
#: let the 10 s replay at STREAM_RATE end first)
CRASH_RATE = 8_000
#: the fault variants' consumer timeouts, short so that an outage outlasts them
SHORT_TIMEOUTS = {
    "FUNNELWATCH_CONSUMER_SESSION_TIMEOUT_SECONDS": "6",
    "FUNNELWATCH_CONSUMER_MAX_POLL_INTERVAL_SECONDS": "10",
}


@dataclass(frozen=True)
class Backlog:
    truth: Path
    want: Expected
    malformed: list[dict]  # type: ignore[type-arg]
    #: the spend of every campaign in windows ending at every hour, as the oracle says
    spend: SpendWindows


@pytest.fixture(scope="module")
def backlog(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Backlog:
    """The module's one simulated input and its oracle, generated without Kafka."""
    home = tmp_path_factory.mktemp("backlog")
    truth = home / "ground-truth.jsonl"
    env = PipelineEnv(kafka_bootstrap, f"chdb://{home / 'unused'}", home, "e2e-backlog")
    env.run(
        "simulate", "--mode", "batch", "--events", str(EVENTS), "--seed", "7",
        # a busy account: 200,000 records in hours of traffic, not days
        "--clicks-per-minute", "1000", "--duplicates", "0.01", "--out-of-order", "0.02",
        "--malformed", "0.005", "--spend-reports", "--ground-truth", str(truth), "--dry-run",
    )  # fmt: skip
    records = [json.loads(line) for line in truth.read_text().splitlines()]
    malformed = [r for r in records if not r["valid"]]
    assert len(malformed) >= EVENTS * 0.004
    events = valid_events(truth)
    spend = spend_windows_wanted(events, expected_kpi := expected(events, load_funnel(), WINDOWS))
    restated = Counter(
        (e["campaign_id"], e["ad_group_id"], e["period_start"])
        for e in events
        if e["event_type"] == "ad_spend"
    )
    assert max(restated.values()) >= 3, "no period is restated twice"
    assert any(reported for reported, _, _, _ in spend.values())
    assert any(provisional for _, provisional, _, _ in spend.values())
    assert any(through is None for _, _, _, through in spend.values())  # clicks' own cost
    return Backlog(truth, expected_kpi, malformed, spend)


def _env(
    bootstrap: str, clickhouse_url: str, home: Path, extra: dict[str, str] | None = None
) -> PipelineEnv:
    """A run of its own: topics, groups, state and (on a server) a database."""
    home.mkdir(parents=True, exist_ok=True)
    env = PipelineEnv(bootstrap, clickhouse_url, home, f"e2e-{uuid.uuid4().hex[:8]}",
                      extra_env=dict(extra or {}))  # fmt: skip
    if clickhouse_url.startswith("clickhouse://"):
        database = env.name.replace("-", "_")
        admin = connect(clickhouse_url)
        admin.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
        admin.close()
        env.clickhouse_url = clickhouse_url.rsplit("/", 1)[0] + "/" + database
    env.run("topics", "create")
    return env


def _replayed(replay: subprocess.Popen[str]) -> None:
    out, _ = replay.communicate(timeout=600)
    assert replay.returncode == 0, out


def _assert_exact(env: PipelineEnv, backlog: Backlog) -> None:
    want = backlog.want
    got_kpi, got_rolling = pipeline_rows(env.clickhouse_url)
    # pytest.fail, not assert: pytest's own diff of 100,000s of rows runs for many minutes
    if got_kpi != want.kpi:
        pytest.fail(
            diff("kpi_minute", got_kpi, want.kpi)
            + _explain(env.clickhouse_url, got_kpi, want)
            + "\nworkers' warnings:\n"
            + "\n".join(env.partition_warnings())
        )
    if got_rolling != want.rolling:
        pytest.fail(diff("conversion_rolling", got_rolling, want.rolling))
    got_spend = spend_windows(env.clickhouse_url, backlog.spend)
    if got_spend != backlog.spend:
        pytest.fail(diff("spend per campaign and window", got_spend, backlog.spend))
    dead = dead_letters(env.bootstrap, catalogue(env.settings).dead_letter.name)
    for record in backlog.malformed:
        value = value_bytes(record)
        assert value in dead, f"malformed record missing from dead-letter: {record}"
        assert dead[value] == record["reason"], record
    assert Counter(dead.values()).total() >= len({value_bytes(r) for r in backlog.malformed})


def _outage_lines(env: PipelineEnv) -> list[str]:
    text = "\n".join(p.read_text(errors="replace") for p in env.home.glob("worker*.log"))
    return [line for line in text.splitlines() if "ERROR" in line or "WARNING" in line
            or "unreachable" in line]  # fmt: skip


def _explain(url: str, got: dict, want: Expected) -> str:  # type: ignore[type-arg]
    """Why the first wrong KPI rows differ: the events ClickHouse and the oracle count
    differently (or in another segment) in their minute and stage, with every version
    of their facts."""
    keys = sorted({(k[0], k[4]) for k in set(got) ^ set(want.kpi)})
    keys += sorted({(k[0], k[4]) for k in want.kpi if k in got and got[k] != want.kpi[k]})
    keys = list(dict.fromkeys(keys))
    client = connect(url)
    lines = []
    try:
        for minute, stage in keys[:3]:
            rows = client.execute(
                "SELECT event_id, argMax(counted, version), argMax(campaign_id, version), "
                "argMax(dim_values, version) FROM funnel_facts "
                "WHERE minute = toDateTime(%(m)s) AND stage = %(s)s GROUP BY event_id",
                {"m": minute, "s": stage},
            )
            stored = {r[0]: (r[2], *r[3]) for r in rows if r[1]}
            expected = want.counted.get((minute, stage), {})
            odd = sorted(
                e for e in stored.keys() | expected.keys() if stored.get(e) != expected.get(e)
            )
            lines.append(
                f"minute {minute} stage {stage}: {len(odd)} events differ; "
                + "; ".join(
                    f"{e}: ClickHouse counts {stored.get(e)}, oracle {expected.get(e)}, versions "
                    + str(
                        client.execute(
                            "SELECT version, campaign_id, dim_values, counted, attribution, "
                            "lead_id, "
                            "source_topic, source_partition, source_offset FROM funnel_facts "
                            "WHERE event_id = %(e)s ORDER BY version",
                            {"e": e},
                        )
                    )
                    for e in odd[:5]
                )
            )
    finally:
        client.close()
    return "\n" + "\n".join(lines)


@pytest.mark.parametrize("crash", [False, True], ids=["clean", "sigkill-mid-stream"])
def test_kpis_in_clickhouse_equal_the_oracle_after_drain(
    kafka_bootstrap: str,
    clickhouse_url: str,
    backlog: Backlog,
    tmp_path: Path,
    crash: bool,
    measured: Callable[[str], None],
) -> None:
    env = _env(kafka_bootstrap, clickhouse_url, tmp_path)
    if not crash:
        _replayed(env.replay(backlog.truth))
    worker = env.start_worker()
    try:
        if crash:
            # killed while the records still arrive, part of them durable
            env.wait_members(1, [worker])
            replay = env.replay(backlog.truth, CRASH_RATE)
            env.wait_committed(EVENTS * 0.3, [worker])
            stop(worker, signal.SIGKILL)
            assert worker.returncode == -signal.SIGKILL
            assert replay.poll() is None, "the input was all sent before the kill"
            # At once, as a supervisor would: the killed member still holds its session,
            # so the new worker goes through a second rebalance when it expires.
            worker = env.start_worker()
            _replayed(replay)
        drained = env.wait_drained(worker, timeout=DRAIN_TIMEOUT)
    finally:
        stop(worker)
    if crash:  # the replay is paced: what counts is how soon the restarted worker caught up
        measured(
            f"[{clickhouse_url.split(':')[0]} crash] {EVENTS} records at {CRASH_RATE}/s, "
            f"drained {drained:.1f}s after the replay ended"
        )
    else:
        measured(
            f"[{clickhouse_url.split(':')[0]}] drained {EVENTS} records in {drained:.1f}s "
            f"from the first start: {EVENTS / drained:.0f} records/s"
        )
    _assert_exact(env, backlog)


@pytest.mark.parametrize("run", [1, 2, 3])
def test_three_workers_with_one_killed_and_one_added_mid_stream_stay_exact(
    kafka_bootstrap: str,
    clickhouse_server_url: str,
    backlog: Backlog,
    tmp_path: Path,
    run: int,
    measured: Callable[[str], None],
) -> None:
    env = _env(kafka_bootstrap, clickhouse_server_url, tmp_path, SHORT_TIMEOUTS)
    workers = [env.start_worker(f"worker{i}.log", web_port=free_port()) for i in range(3)]
    try:
        env.wait_members(3, workers)
        replay = env.replay(backlog.truth, STREAM_RATE)
        env.wait_committed(EVENTS * 0.25, workers)
        stop(workers[0], signal.SIGKILL)
        workers = workers[1:]
        env.wait_committed(EVENTS * 0.4, workers)
        workers.append(env.start_worker("worker3.log", web_port=free_port()))
        _replayed(replay)
        drained = env.wait_drained(workers, timeout=DRAIN_TIMEOUT)
    finally:
        for worker in workers:
            stop(worker)
    measured(f"[server, 3 workers, run {run}] drained {drained:.1f}s after the replay ended")
    _assert_exact(env, backlog)


@pytest.fixture
def own_clickhouse(tmp_path: Path) -> Iterator[LocalClickHouseServer]:
    server = LocalClickHouseServer(tmp_path / "clickhouse")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_clickhouse_stopped_longer_than_the_max_poll_interval_resumes_and_stays_exact(
    kafka_bootstrap: str,
    own_clickhouse: LocalClickHouseServer,
    backlog: Backlog,
    tmp_path: Path,
    measured: Callable[[str], None],
) -> None:
    env = _env(kafka_bootstrap, own_clickhouse.url, tmp_path / "run", SHORT_TIMEOUTS)
    worker = env.start_worker()
    try:
        replay = env.replay(backlog.truth, STREAM_RATE)
        env.wait_committed(EVENTS * 0.2, [worker])
        own_clickhouse.stop()  # the home stays: it was given
        outage = float(SHORT_TIMEOUTS["FUNNELWATCH_CONSUMER_MAX_POLL_INTERVAL_SECONDS"]) * 2
        time.sleep(outage)
        assert worker.poll() is None, env.tail()
        own_clickhouse.start()
        back = time.monotonic()
        _replayed(replay)
        env.wait_drained(worker, timeout=DRAIN_TIMEOUT)
        resumed = time.monotonic() - back - env.DRAIN_CONFIRM_SECONDS
    finally:
        stop(worker)
    lines = _outage_lines(env)
    measured(f"[server stopped {outage:.0f}s] drained {resumed:.1f}s after it returned; "
             f"{len(lines)} warning lines")  # fmt: skip
    assert len(lines) <= 20, "\n".join(lines[:40])
    assert any("unreachable" in line for line in lines), lines
    _assert_exact(env, backlog)


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    broker = LocalKafka(tmp_path / "kafka", port=free_port())
    broker.start()
    broker.wait_ready()
    try:
        yield broker
    finally:
        broker.stop()


def test_broker_restarted_mid_stream_resumes_and_stays_exact(
    own_kafka: LocalKafka,
    backlog: Backlog,
    tmp_path: Path,
    measured: Callable[[str], None],
) -> None:
    env = _env(own_kafka.bootstrap, f"chdb://{tmp_path / 'run' / 'chdb'}", tmp_path / "run")
    _replayed(env.replay(backlog.truth))
    worker = env.start_worker()
    try:
        env.wait_committed(EVENTS * 0.3, [worker])
        own_kafka.stop()
        time.sleep(10)
        assert worker.poll() is None, env.tail()
        own_kafka.start()
        own_kafka.wait_ready()
        back = time.monotonic()
        env.wait_drained(worker, timeout=DRAIN_TIMEOUT)
        resumed = time.monotonic() - back - env.DRAIN_CONFIRM_SECONDS
    finally:
        stop(worker)
    lines = _outage_lines(env)
    measured(f"[broker restarted] drained {resumed:.1f}s after it returned; "
             f"{len(lines)} warning lines")  # fmt: skip
    assert len(lines) <= 60, "\n".join(lines[:80])
    _assert_exact(env, backlog)
