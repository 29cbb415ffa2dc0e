"""One real stack for the web tests: Kafka, the Debian ClickHouse server (a database of
its own), simulator traffic, and one worker with ingest, bid targets and the API on."""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from funnelwatch.clickhouse import ClickHouse, connect
from funnelwatch.processors.alerting.store import ALERT_COLUMNS
from tests.support.clickhouse import click_lead_alert_row
from tests.support.pipeline import PipelineEnv, stop

CAMPAIGNS = ("cmp-search-brand", "cmp-search-generic", "cmp-social-prospecting")
#: a campaign only the ingest tests send traffic to; its CPL target is 3.00
INGESTED = "cmp-webhook-test"
TARGET_CPL_MICROS = 3_000_000


@dataclass
class Stack:
    env: PipelineEnv
    url: str  # ClickHouse URL of the worker's database
    token: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.env.web_port}"

    def client(self) -> ClickHouse:
        return connect(self.url)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        req = urllib.request.Request(
            self.base + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def insert_alert(self, alert_id: str, campaign: str, kind: str, status: str) -> None:
        """An alert row as the detectors write it (a newer version is its new state)."""
        now = int(time.time())
        row = click_lead_alert_row(
            alert_id,
            campaign,
            kind,
            status,
            now,
            resolved_at=now if status == "resolved" else 0,
            baseline=0.08,
            leads_lost=12.5,
            summary=f"{kind}: click→lead 0.0% (baseline 8.0%)",
            version=time.time_ns(),
        )
        client = self.client()
        try:
            client.insert("alerts", ALERT_COLUMNS, [row])
        finally:
            client.close()


@pytest.fixture(scope="package")
def stack(
    kafka_bootstrap: str, clickhouse_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    name = f"web-{uuid.uuid4().hex[:8]}"
    db = name.replace("-", "_")
    admin = connect(clickhouse_server_url)
    admin.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    admin.close()
    url = clickhouse_server_url.rsplit("/", 1)[0] + "/" + db
    token = secrets.token_urlsafe(24)
    targets = {
        INGESTED: {"metric": "cpl", "target_micros": TARGET_CPL_MICROS},
        "*": {"metric": "cpl", "target_micros": 5_000_000},
    }
    home: Path = tmp_path_factory.mktemp(name)
    env = PipelineEnv(
        kafka_bootstrap,
        url,
        home,
        name,
        partitions=2,
        extra_env={
            "FUNNELWATCH_INGEST_TOKEN": token,
            "FUNNELWATCH_INGEST_MAX_BODY_BYTES": "20000",
            "FUNNELWATCH_BID_TARGETS": json.dumps(targets),
            "FUNNELWATCH_BID_INTERVAL_SECONDS": "1",
            "FUNNELWATCH_BID_MIN_CLICKS": "20",
            "FUNNELWATCH_BATCH_MAX_SECONDS": "0.3",
            "FUNNELWATCH_ROLLING_INTERVAL_SECONDS": "0.5",
        },
    )
    env.run("topics", "create")
    env.run(
        "simulate",
        "--events",
        "6000",
        "--campaigns",
        str(len(CAMPAIGNS)),
        "--clicks-per-minute",
        "20",
        "--flat",
        "--seed",
        "5",
        "--duplicates",
        "0.01",
        "--malformed",
        "0",
        "--incident",
        f"form_broken:{CAMPAIGNS[0]}:150",
    )
    worker = env.start_worker()
    try:
        env.wait_drained(worker, timeout=300)
        yield Stack(env, url, token)
    finally:
        stop(worker)
