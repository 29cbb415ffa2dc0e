"""The correctness invariant, end to end on real Kafka and both ClickHouse backends.

The simulator sends 200,000 records with 1% duplicates, out-of-order CRM events and
0.5% malformed records; after the worker drains, every per-minute KPI row and every
rolling-conversion row in ClickHouse equals the oracle computed from the ground-truth
file, and every malformed record is in the dead-letter topic with its reason. The
crash variant kills the worker with SIGKILL mid-stream and restarts it.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from funnelwatch.clickhouse import connect
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.streams.catalogue import catalogue
from tests.support.oracle import Expected, expected, valid_events
from tests.support.pipeline import PipelineEnv, stop

# 200,000 records through simulate, the worker and a drain take 4 to 16 minutes here
# depending on the machine's load (a drain took 880 s on a loaded day); the drain itself
# fails at DRAIN_TIMEOUT, a stall the watchdog could not heal.
DRAIN_TIMEOUT = 1200
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(DRAIN_TIMEOUT + 900)]

# the issue asks for 200,000; FUNNELWATCH_E2E_EVENTS lowers it for a quick local run
EVENTS = int(os.environ.get("FUNNELWATCH_E2E_EVENTS", "200000"))
WINDOWS = (15, 60, 1440)


def _pipeline_rows(url: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    client = connect(url)
    try:
        kpi = {
            (r[0], r[1], r[2], r[3], r[4]): (r[5], r[6], r[7])
            for r in client.execute(
                "SELECT toUInt32(minute), campaign_id, dim, dim_value, stage, events, "
                "cost_micros, revenue_micros FROM kpi_minute FINAL"
            )
            if any(r[5:])
        }
        rolling = {
            tuple(r[:7]): (r[7], r[8])
            for r in client.execute(
                "SELECT toUInt32(minute), campaign_id, dim, dim_value, window_minutes, "
                "from_stage, to_stage, from_events, to_events FROM conversion_rolling FINAL"
            )
            if r[7] or r[8]
        }
    finally:
        client.close()
    return kpi, rolling


def _dead_letters(env: PipelineEnv) -> dict[bytes, str]:
    topic = catalogue(env.settings).dead_letter.name
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=env.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        group_id=None,
    )
    found = {}
    for record in consumer:
        headers = dict(record.headers)
        assert headers["source_topic"].decode() and headers["source_offset"].decode().isdigit()
        found[record.value] = headers["reason"].decode()
    consumer.close()
    return found


def _diff(name: str, got: dict, want: dict) -> str:  # type: ignore[type-arg]
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    wrong = [(k, got[k], want[k]) for k in want if k in got and got[k] != want[k]]
    return (
        f"{name}: {len(want)} expected, {len(got)} found; {len(missing)} missing "
        f"{missing[:5]}; {len(extra)} extra {extra[:5]}; {len(wrong)} wrong (got, want) "
        f"{wrong[:5]}"
    )


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
                "argMax(channel, version), argMax(ad_group_id, version), "
                "argMax(device, version), argMax(geo, version) FROM funnel_facts "
                "WHERE minute = toDateTime(%(m)s) AND stage = %(s)s GROUP BY event_id",
                {"m": minute, "s": stage},
            )
            stored = {r[0]: "/".join(r[2:]) for r in rows if r[1]}
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
                            "SELECT version, campaign_id, channel, counted, attribution, "
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


@pytest.mark.parametrize(
    "crash",
    [False, True],
    ids=["clean", "sigkill-mid-stream"],
)
def test_kpis_in_clickhouse_equal_the_oracle_after_drain(
    kafka_bootstrap: str,
    clickhouse_url: str,
    tmp_path: Path,
    crash: bool,
    measured: Callable[[str], None],
) -> None:
    env = PipelineEnv(kafka_bootstrap, clickhouse_url, tmp_path, f"e2e-{uuid.uuid4().hex[:8]}")
    if clickhouse_url.startswith("clickhouse://"):
        # the shared server: a database of this test's own
        admin = connect(clickhouse_url)
        admin.execute(f"CREATE DATABASE IF NOT EXISTS {env.name.replace('-', '_')}")
        admin.close()
        env.clickhouse_url = clickhouse_url.rsplit("/", 1)[0] + "/" + env.name.replace("-", "_")
    truth = tmp_path / "ground-truth.jsonl"
    env.run("topics", "create")
    env.run(
        "simulate",
        "--mode",
        "batch",
        "--events",
        str(EVENTS),
        "--seed",
        "7",
        # a busy account: 200,000 records in hours of traffic, not days
        "--clicks-per-minute",
        "1000",
        "--duplicates",
        "0.01",
        "--out-of-order",
        "0.02",
        "--malformed",
        "0.005",
        "--ground-truth",
        str(truth),
    )

    started = time.monotonic()
    worker = env.start_worker()
    try:
        if crash:
            _kill_mid_stream(env, worker)
            # At once, as a supervisor would: the killed member still holds its session,
            # so the new worker goes through a second rebalance when it expires.
            worker = env.start_worker()
        env.wait_drained(worker, timeout=DRAIN_TIMEOUT)
        drained_after = time.monotonic() - started - env.DRAIN_CONFIRM_SECONDS
    finally:
        stop(worker)
    measured(
        f"[{clickhouse_url.split(':')[0]}{' crash' if crash else ''}] drained {EVENTS} "
        f"records in {drained_after:.1f}s: {EVENTS / drained_after:.0f} records/s "
        f"(total {time.monotonic() - started:.1f}s)"
    )

    want = expected(valid_events(truth), load_funnel(), WINDOWS)
    got_kpi, got_rolling = _pipeline_rows(env.clickhouse_url)
    # pytest.fail, not assert: pytest's own diff of 100,000s of rows runs for many minutes
    if got_kpi != want.kpi:
        pytest.fail(
            _diff("kpi_minute", got_kpi, want.kpi)
            + _explain(env.clickhouse_url, got_kpi, want)
            + "\nworker's partition warnings:\n"
            + "\n".join(env.partition_warnings())
        )
    if got_rolling != want.rolling:
        pytest.fail(_diff("conversion_rolling", got_rolling, want.rolling))

    malformed = [json.loads(line) for line in truth.read_text().splitlines()]
    malformed = [r for r in malformed if not r["valid"]]
    assert len(malformed) >= EVENTS * 0.004
    dead = _dead_letters(env)
    for record in malformed:
        value = _value_bytes(record)
        assert value in dead, f"malformed record missing from dead-letter: {record}"
        assert dead[value] == record["reason"], record
    assert Counter(dead.values()).total() >= len({_value_bytes(r) for r in malformed})


def _value_bytes(record: dict) -> bytes:  # type: ignore[type-arg]
    import base64

    if record.get("value_encoding") == "base64":
        return base64.b64decode(record["value"])
    return str(record["value"]).encode()


def _kill_mid_stream(env: PipelineEnv, worker: object) -> None:
    """SIGKILL the worker once it has made part of the work durable, but not all."""
    import subprocess

    assert isinstance(worker, subprocess.Popen)
    deadline = time.monotonic() + 300
    initial = env.lag()
    while time.monotonic() < deadline:
        lag = env.lag()
        if 0 < lag < initial * 0.6:
            break
        time.sleep(0.5)
    stop(worker, signal.SIGKILL)
    assert worker.returncode == -signal.SIGKILL
    assert env.lag() > 0, "the worker finished before it could be killed mid-stream"
