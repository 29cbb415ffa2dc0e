"""One real stack for the web tests: Kafka, the Debian ClickHouse server (a database of
its own), simulator traffic, and one worker with ingest, bid targets and the API on.

The worker has a read token (``Stack.read_token``: ``Stack.get`` sends it) and an
ingest token (``Stack.token``), each a pair to show that rotation works, and secret
webhook URLs and a ClickHouse password setting, so the security tests can look for
them in its output.
"""

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
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

from funnelwatch.clickhouse import ClickHouse, connect
from funnelwatch.localstack.ports import free_port
from funnelwatch.processors.alerting.store import ALERT_COLUMNS
from tests.support.clickhouse import click_lead_alert_row
from tests.support.pipeline import PipelineEnv, stop

CAMPAIGNS = ("cmp-search-brand", "cmp-search-generic", "cmp-social-prospecting")
#: a campaign only the ingest tests send traffic to; its CPL target is 3.00
INGESTED = "cmp-webhook-test"
TARGET_CPL_MICROS = 3_000_000
#: the worker's contact hash salt (FUNNELWATCH_CONTACT_HASH_SALT): forms may carry email/phone
CONTACT_SALT = secrets.token_urlsafe(24)
#: the snippet's publishable key, allowed only on the origin of the page server that
#: tests/integration/web/test_snippet_browser.py runs on SITE_PORT
SITE_PORT = free_port()
SITE_ORIGIN = f"http://127.0.0.1:{SITE_PORT}"
SITE_KEY = f"pk_test_{secrets.token_hex(8)}"


@dataclass
class Stack:
    env: PipelineEnv
    url: str  # ClickHouse URL of the worker's database
    token: str  # an ingest token
    read_token: str
    #: every secret value the worker was given (for the tests that grep for them)
    secrets: tuple[str, ...] = ()
    #: the worker's other ingest and read token (a rotation in progress)
    old_token: str = ""
    old_read_token: str = ""

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

    def get(self, path: str, token: str | None = "read") -> tuple[int, Any]:
        """GET with the read token (``token="read"``), another bearer token, or none."""
        bearer = self.read_token if token == "read" else token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
        return self.request("GET", path, headers=headers)

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
    # a password goes to the worker as its secret setting, with a URL without it (the
    # shared server's user has none; test_security.py runs a server with one)
    parts = urlsplit(url)
    password = unquote(parts.password or "")
    host = f"{parts.username}@{parts.hostname}:{parts.port}"
    worker_url = urlunsplit(parts._replace(netloc=host))
    password_env = {"FUNNELWATCH_CLICKHOUSE_PASSWORD": password} if password else {}
    token = secrets.token_urlsafe(24)
    read_token = secrets.token_urlsafe(24)
    # second tokens of each role: a rotation in progress (both must be accepted)
    old_token, old_read_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    # secret values that must never show in the worker's output: the webhooks point at a
    # closed port (no alert fires in these tests; if one did, its failure is logged)
    webhook = f"http://127.0.0.1:9/hook-{secrets.token_urlsafe(16)}"
    slack = f"http://127.0.0.1:9/services/T000/B000/{secrets.token_urlsafe(16)}"
    targets = {
        INGESTED: {"metric": "cpl", "target_micros": TARGET_CPL_MICROS},
        "*": {"metric": "cpl", "target_micros": 5_000_000},
    }
    home: Path = tmp_path_factory.mktemp(name)
    env = PipelineEnv(
        kafka_bootstrap,
        worker_url,
        home,
        name,
        partitions=2,
        extra_env={
            "FUNNELWATCH_INGEST_TOKEN": f"{token},{old_token}",
            "FUNNELWATCH_READ_TOKEN": f"{old_read_token},{read_token}",
            "FUNNELWATCH_ALERT_WEBHOOK_URL": webhook,
            "FUNNELWATCH_ALERT_SLACK_WEBHOOK_URL": slack,
            **password_env,
            # every test of the package shares one client address: the rate limits are
            # tested on a worker of their own (test_security.py)
            "FUNNELWATCH_RATE_LIMIT_PER_SECOND": "1000",
            "FUNNELWATCH_RATE_LIMIT_PER_CLIENT_PER_SECOND": "1000",
            "FUNNELWATCH_RATE_LIMIT_BURST": "1000",
            "FUNNELWATCH_CONTACT_HASH_SALT": CONTACT_SALT,
            "FUNNELWATCH_SITE_KEYS": json.dumps({SITE_KEY: {"origins": [SITE_ORIGIN]}}),
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
        "--spend-reports",
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
        given = (token, old_token, read_token, old_read_token, webhook, slack, password)
        secret_values = (*(v for v in given if v), CONTACT_SALT)
        yield Stack(
            env,
            url,
            token,
            read_token,
            secret_values,
            old_token=old_token,
            old_read_token=old_read_token,
        )
    finally:
        stop(worker)
