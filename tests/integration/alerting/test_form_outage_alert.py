"""A form outage on the real stack: one alert, everywhere it should be, then resolved.

Real Kafka, the real worker (subprocess) on embedded chDB, the simulator's
``form_broken`` incident, and a webhook receiver run by the test (its first answer is
an HTTP 500, so the retry path is part of what is proven). The simulated traffic
comes in two batches — up to the outage, then the recovery — so the firing state is
observed before the resolved one.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from funnelwatch.clickhouse import connect
from funnelwatch.localstack.ports import free_port
from funnelwatch.streams.catalogue import catalogue
from tests.support.pipeline import PipelineEnv, alerting_env, stop

pytestmark = pytest.mark.integration

CAMPAIGN = "cmp-search-brand"


class Receiver:
    """An HTTP webhook receiver; fails its very first request with a 500."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests += 1
                if receiver.requests == 1:
                    self.send_response(500)
                else:
                    receiver.received.append(
                        (self.path, self.headers.get("Idempotency-Key", ""), body)
                    )
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def keys(self, path: str) -> list[str]:
        return [key for p, key, _ in self.received if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def metrics_text(env: PipelineEnv) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{env.web_port}/metrics", timeout=5) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def gauge(env: PipelineEnv) -> float | None:
    for line in metrics_text(env).splitlines():
        if line.startswith("funnelwatch_alerts_active{") and f'campaign_id="{CAMPAIGN}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_for(what: str, check: Callable[[], bool], env: PipelineEnv, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{env.tail(60)}")


def alerts_on_topic(env: PipelineEnv) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(
        catalogue(env.settings).alerts.name,
        bootstrap_servers=env.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
        group_id=None,
    )
    try:
        return [json.loads(record.value) for record in consumer]
    finally:
        consumer.close()


def test_form_outage_fires_one_alert_everywhere_and_resolves_after_recovery(
    kafka_bootstrap: str, tmp_path: Path, receiver: Receiver
) -> None:
    env = alerting_env(
        kafka_bootstrap,
        tmp_path,
        "alert",
        receiver.url("/hook"),
        slack_webhook_url=receiver.url("/slack"),
        partitions=2,
    )
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    worker = env.start_worker()
    try:
        # the detectors have looked at the empty ClickHouse: all that arrives is new
        wait_for("the first detector step", lambda: "funnelwatch_detector_steps_total 1"
                 in metrics_text(env) or _steps(env) > 0, env, 60)  # fmt: skip
        common = ["simulate", "--seed", "7", "--flat", "--campaigns", "2",
                  "--clicks-per-minute", "100"]  # fmt: skip
        # minutes 0..80 of the run, the form of one campaign broken from minute 60
        env.run(*common, "--end", (t0 + timedelta(minutes=80)).isoformat(),
                "--duration", "80m", "--incident", f"form_broken:{CAMPAIGN}:60")  # fmt: skip
        wait_for("the firing alert on the gauge", lambda: gauge(env) == 1.0, env, 60)
        wait_for("the firing webhook", lambda: len(receiver.keys("/hook")) == 1, env, 30)
        # then forty minutes of recovered traffic
        env.run(*common, "--seed", "8", "--end", (t0 + timedelta(minutes=120)).isoformat(),
                "--duration", "40m")  # fmt: skip
        wait_for("the resolved alert on the gauge", lambda: gauge(env) == 0.0, env, 60)
        wait_for("the resolved webhooks", lambda: len(receiver.keys("/hook")) == 2
                 and len(receiver.keys("/slack")) == 2, env, 30)  # fmt: skip
        messages = alerts_on_topic(env)
    finally:
        stop(worker)

    # Kafka: one alert, firing then resolved
    assert [(m["campaign_id"], m["status"]) for m in messages] == [
        (CAMPAIGN, "firing"), (CAMPAIGN, "resolved")]  # fmt: skip
    alert_id = messages[0]["alert_id"]
    assert messages[1]["alert_id"] == alert_id
    firing = messages[0]
    assert firing["kind"] == "stall" and (firing["from_stage"], firing["to_stage"]) == (
        "click", "lead")  # fmt: skip
    started = datetime.fromisoformat(firing["started_at"].replace("Z", "+00:00"))
    assert abs(started - (t0 + timedelta(minutes=60))) <= timedelta(minutes=3)
    assert firing["baseline"] > 0.05 and firing["current"] == 0.0
    assert messages[1]["leads_lost"] > 10
    # ClickHouse: the alert's latest state
    client = connect(env.clickhouse_url)
    try:
        rows = client.execute(
            "SELECT alert_id, status, campaign_id, kind, segments FROM alerts FINAL"
        )
    finally:
        client.close()
    assert [tuple(r[:4]) for r in rows] == [(alert_id, "resolved", CAMPAIGN, "stall")]
    assert "all=all" in json.loads(rows[0][4])
    # webhooks: each state once per receiver, despite the failed first attempt
    assert receiver.keys("/hook") == [f"{alert_id}:firing", f"{alert_id}:resolved"]
    assert sorted(receiver.keys("/slack")) == [f"{alert_id}:firing", f"{alert_id}:resolved"]
    assert receiver.requests == 5
    hook = [body for path, _, body in receiver.received if path == "/hook"]
    assert hook[0]["summary"].startswith(f"{CAMPAIGN}: click→lead 0.0% vs baseline")
    slack = [body for path, _, body in receiver.received if path == "/slack"]
    assert all(set(body) == {"text"} for body in slack)


def _steps(env: PipelineEnv) -> float:
    return env.metric("funnelwatch_detector_steps_total") or 0.0
