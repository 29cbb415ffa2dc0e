"""A backlog without incident pages nobody, even across a SIGKILL and restart.

Real Kafka, the real worker (subprocess) on embedded chDB: the simulator writes
~100 minutes of healthy traffic in batch mode before the worker starts, the worker
drains it, is killed with SIGKILL mid-stream and restarted at once (as the e2e crash
test does). While a backlog drains, the stages reach ClickHouse at very different
times (leads take two more hops than clicks, and partitions run apart), so a detector
that judged minutes whose leads are still in Kafka would see a drop that never was.
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
            "--ground-truth", str(truth))  # fmt: skip
    # every minute up to the grace (2 min) before the last click must get judged
    last = max(
        datetime.fromisoformat(e["event_time"].replace("Z", "+00:00"))
        for e in valid_events(truth)
        if e["event_type"] == "ad_click"
    )
    target = last.timestamp() - last.timestamp() % 60 - 4 * 60
    worker = env.start_worker()
    try:
        initial = env.lag()
        deadline = time.monotonic() + 120
        while not 0 < env.lag() < initial * 0.6 and time.monotonic() < deadline:
            time.sleep(0.5)
        stop(worker, signal.SIGKILL)
        assert env.lag() > 0, "the worker finished before it could be killed mid-stream"
        worker = env.start_worker()
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
