"""A backlog without incident pages nobody, even across a SIGKILL and restart.

Real Kafka, the real worker (subprocess) on embedded chDB: ~100 minutes of healthy
traffic are sent in seconds while the worker drains them; it is killed with SIGKILL
while they still arrive and restarted at once (as the e2e crash test does). While a
backlog drains, the stages reach ClickHouse at very different times (a form waits for
its click, CRM events take a hop to their lead's owner, and partitions run apart), so a
detector that judged minutes whose leads are still in Kafka would see a drop that never
was.
The test proves that every minute was judged (the cursor reached the end of the
traffic) and that no alert was written or delivered.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from funnelwatch.clickhouse import connect
from funnelwatch.localstack.ports import free_port
from tests.support.oracle import valid_events
from tests.support.pipeline import alerting_env, stop

pytestmark = pytest.mark.integration

CURSOR = "funnelwatch_detector_cursor_timestamp_seconds"


class Receiver:
    """An HTTP webhook receiver that keeps every request body."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def test_draining_a_healthy_backlog_across_a_sigkill_fires_no_alert(
    kafka_bootstrap: str, tmp_path: Path, receiver: Receiver
) -> None:
    # its short baseline delay lets baselines form within the backlog, so minutes are judged
    env = alerting_env(kafka_bootstrap, tmp_path, "backlog", receiver.url())
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    env.run("topics", "create")
    truth = tmp_path / "ground-truth.jsonl"
    env.run("simulate", "--mode", "batch", "--events", "30000", "--clicks-per-minute", "300",
            "--campaigns", "2", "--flat", "--seed", "11", "--end", end.isoformat(),
            "--ground-truth", str(truth), "--dry-run")  # fmt: skip
    # every minute up to the grace (2 min) before the last click must get judged
    last = max(
        datetime.fromisoformat(e["event_time"].replace("Z", "+00:00"))
        for e in valid_events(truth)
        if e["event_type"] == "ad_click"
    )
    target = last.timestamp() - last.timestamp() % 60 - 4 * 60
    worker = env.start_worker()
    try:
        # sent while the worker runs, faster than real time: a backlog of ~100 minutes
        # of traffic, killed in the middle of its drain
        env.wait_members(1, [worker])
        replay = env.replay(truth, rate=3000)
        env.wait_committed(12_000, [worker])
        stop(worker, signal.SIGKILL)
        assert replay.poll() is None, "the input was all sent before the kill"
        worker = env.start_worker()
        out, _ = replay.communicate(timeout=300)
        assert replay.returncode == 0, out
        env.wait_drained(worker, timeout=180)
        # the detectors judge what is left once it settled
        deadline = time.monotonic() + 60
        while (env.metric(CURSOR) or 0.0) < target and time.monotonic() < deadline:
            time.sleep(0.5)
        cursor = env.metric(CURSOR) or 0.0
        time.sleep(2)  # the deliveries of the last step
    finally:
        stop(worker)
    client = connect(env.clickhouse_url)
    try:
        alerts = client.execute("SELECT summary FROM alerts FINAL")
    finally:
        client.close()
    assert cursor >= target, f"detectors judged only up to {cursor}, not {target}: {env.tail()}"
    assert alerts == [], f"false alerts on a healthy backlog: {alerts}"
    assert receiver.bodies == []
