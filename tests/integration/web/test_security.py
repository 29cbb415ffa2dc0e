"""The worker's HTTP surface under attack, against running workers: the web stack's, and
one of this module's own (its own Kafka broker, low rate limits, pages behind the
token) for what needs other settings or a broker that can be stopped.

Every refusal has its documented status (README "Security"), and nothing of a refused
request is produced, nor anything of ClickHouse changed; no secret shows anywhere."""

from __future__ import annotations

import http.client
import json
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pytest
from kafka import KafkaConsumer, TopicPartition

from funnelwatch.clickhouse import connect
from funnelwatch.localstack.clickhouse_server import LocalClickHouseServer
from funnelwatch.localstack.kafka import LocalKafka
from funnelwatch.localstack.ports import free_port
from funnelwatch.streams.catalogue import catalogue
from tests.support.pipeline import FUNNELWATCH, PipelineEnv, stop

from .conftest import CAMPAIGNS, SITE_KEY, SITE_ORIGIN, Stack

pytestmark = pytest.mark.integration

CAMPAIGN = CAMPAIGNS[1]
API = (
    "/api/campaigns",
    f"/api/campaigns/{CAMPAIGN}/kpis",
    f"/api/campaigns/{CAMPAIGN}/conversions",
    f"/api/campaigns/{CAMPAIGN}/bid",
    "/api/alerts",
)
#: Faust's built-in views (all off) and paths near them
FAUST_VIEWS = (
    "/table/",
    "/table/leads/",
    "/table/leads/lead-1/",
    "/router/",
    "/router/leader/",
    "/router/topics/",
    "/graph/",
    "/stats/",
    "/assignment/",
    "/performance/",
    "/signal/",
)
HOSTILE = (
    "' OR 1=1 --",
    "'; DROP TABLE kpi_minute; --",
    '" OR ""="',
    "1; SELECT * FROM system.users",
    "../../etc/passwd",
    "..\\..\\etc\\passwd",
    "....//....//etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "/etc/passwd\x00.json",
)


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request with the path sent exactly as given (no client-side normalising)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read().decode(errors="replace"))
    finally:
        conn.close()


def click(campaign: str = "cmp-security", **overrides: Any) -> dict[str, Any]:
    event = {
        "event_type": "ad_click",
        "event_id": f"sec-{uuid.uuid4().hex}",
        "event_time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "schema_version": 1,
        "click_id": f"c-{uuid.uuid4().hex[:12]}",
        "campaign_id": campaign,
        "ad_group_id": "ag-1",
        "ad_id": "ad-1",
        "channel": "google",
        "cost_micros": 1_000_000,
    }
    event.update(overrides)
    return event


def end_offsets(env: PipelineEnv) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=env.bootstrap)
    try:
        tps = [
            TopicPartition(t.name, p)
            for t in catalogue(env.settings).sources
            for p in range(env.partitions)
        ]
        return dict(consumer.end_offsets(tps))
    finally:
        consumer.close()


def clicks_since(env: PipelineEnv, before: dict[TopicPartition, int]) -> list[dict[str, Any]]:
    """The click events produced after ``before`` (end offsets), as JSON."""
    after = end_offsets(env)
    grown = {tp: (before.get(tp, 0), end) for tp, end in after.items() if end > before.get(tp, 0)}
    if not grown:
        return []
    consumer = KafkaConsumer(bootstrap_servers=env.bootstrap, consumer_timeout_ms=10_000)
    try:
        consumer.assign(list(grown))
        for tp, (start, _) in grown.items():
            consumer.seek(tp, start)
        want = sum(end - start for start, end in grown.values())
        records = []
        for record in consumer:
            if record.offset < grown[TopicPartition(record.topic, record.partition)][1]:
                records.append(json.loads(record.value))
            if len(records) == want:
                break
    finally:
        consumer.close()
    return records


# --- credentials ------------------------------------------------------------------


@pytest.mark.parametrize("path", API)
def test_api_answers_401_without_a_token_or_with_an_unknown_one_even_on_loopback(
    stack: Stack, path: str
) -> None:
    for token in (None, "x" * 32, stack.read_token + "x", stack.read_token[:-1]):
        got = call(stack.env.web_port, "GET", path, token=token)
        assert got.status == 401, (token is None, got.text)
        assert got.headers["WWW-Authenticate"].startswith("Bearer")
        assert "error" in got.json()
    basic = call(stack.env.web_port, "GET", path, headers={"Authorization": "Basic dTpw"})
    assert basic.status == 401


@pytest.mark.parametrize("path", API)
def test_an_ingest_token_or_a_site_key_on_the_api_is_403(stack: Stack, path: str) -> None:
    for token, role in ((stack.token, "ingest token"), (SITE_KEY, "site key")):
        got = call(stack.env.web_port, "GET", path, token=token)
        assert got.status == 403, got.text
        assert role in got.json()["error"]
        assert "WWW-Authenticate" not in got.headers


def test_each_token_of_a_rotation_is_accepted_in_its_own_role(stack: Stack) -> None:
    # the stack's worker has two read and two ingest tokens (an old and a new one each)
    for token in (stack.read_token, stack.old_read_token):
        status, body = stack.get("/api/campaigns", token=token)
        assert status == 200, body
        assert CAMPAIGN in {c["campaign_id"] for c in body["campaigns"]}
    assert stack.get("/api/campaigns", token=stack.old_token)[0] == 403
    for token in (stack.token, stack.old_token):
        got = call(
            stack.env.web_port, "POST", "/ingest/clicks", json.dumps(click()).encode(), token
        )
        assert got.status == 202, got.text


def test_the_openapi_description_is_public_and_declares_bearer_auth(stack: Stack) -> None:
    got = call(stack.env.web_port, "GET", "/api/openapi.json")
    assert got.status == 200
    doc = got.json()
    schemes = doc["components"]["securitySchemes"]
    assert {s["scheme"] for s in schemes.values() if s["type"] == "http"} == {"bearer"}
    assert doc["paths"]["/api/campaigns"]["get"]["security"]
    assert doc["paths"]["/api/openapi.json"]["get"]["security"] == []


@pytest.mark.parametrize("endpoint", ["clicks", "forms", "crm"])
def test_a_read_token_or_site_key_on_ingest_is_403_and_produces_nothing(
    stack: Stack, endpoint: str
) -> None:
    before = end_offsets(stack.env)
    body = json.dumps([click()]).encode()
    for token in (stack.read_token, SITE_KEY):
        got = call(stack.env.web_port, "POST", f"/ingest/{endpoint}", body, token)
        assert got.status == 403, got.text
    for token in (None, "y" * 32):
        got = call(stack.env.web_port, "POST", f"/ingest/{endpoint}", body, token)
        assert got.status == 401, got.text
    time.sleep(0.5)  # a produce would be acknowledged long before this
    assert end_offsets(stack.env) == before


def test_a_site_key_from_a_foreign_origin_is_403_without_cors_and_produces_nothing(
    stack: Stack,
) -> None:
    before = end_offsets(stack.env)
    landing = json.dumps(
        {"site_key": SITE_KEY, "click_id": f"gclid-{uuid.uuid4().hex}", "utm_campaign": CAMPAIGN}
    ).encode()
    for origin in ("https://evil.example", f"{SITE_ORIGIN}.evil.example", "null"):
        got = call(stack.env.web_port, "POST", "/collect", landing, headers={"Origin": origin})
        assert got.status == 403, (origin, got.text)
        assert "Access-Control-Allow-Origin" not in got.headers, origin
        preflight = call(
            stack.env.web_port,
            "OPTIONS",
            "/collect",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status == 403, origin
    time.sleep(0.5)  # a produce would be acknowledged long before this
    assert end_offsets(stack.env) == before


@pytest.mark.parametrize("path", FAUST_VIEWS)
def test_fausts_default_views_answer_404(stack: Stack, path: str) -> None:
    for token in (None, stack.read_token):
        got = call(stack.env.web_port, "GET", path, token=token)
        assert got.status == 404, (path, got.status, got.text[:200])


def test_metrics_and_board_are_open_on_loopback_but_not_through_a_proxy(stack: Stack) -> None:
    port = stack.env.web_port
    assert call(port, "GET", "/metrics").status == 200
    board = call(port, "GET", "/")
    assert board.status == 200 and "<html" in board.text
    # a reverse proxy on the same host makes every client look local: a forwarded
    # request is treated as remote (the read token, then)
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        proxied = {header: "203.0.113.9"}
        for path in ("/metrics", "/"):
            refused = call(port, "GET", path, headers=proxied)
            assert refused.status == 401, (header, path, refused.text)
            allowed = call(port, "GET", path, token=stack.read_token, headers=proxied)
            assert allowed.status == 200


# --- bounds ------------------------------------------------------------------------


def test_an_oversized_body_is_413_and_produces_nothing(stack: Stack) -> None:
    before = end_offsets(stack.env)
    body = json.dumps([click() for _ in range(100)]).encode()
    assert len(body) > 20_000  # the stack's FUNNELWATCH_INGEST_MAX_BODY_BYTES
    got = call(stack.env.web_port, "POST", "/ingest/clicks", body, stack.token)
    assert got.status == 413 and "limit of 20000 bytes" in got.json()["error"]
    time.sleep(0.5)
    assert end_offsets(stack.env) == before


# --- hostile strings -------------------------------------------------------------


def _clickhouse_state(stack: Stack) -> dict[str, Any]:
    client = stack.client()
    try:
        tables = client.execute(
            "SELECT name, engine FROM system.tables WHERE database = currentDatabase() "
            "ORDER BY name"
        )
        columns = client.execute(
            "SELECT table, name, type FROM system.columns WHERE database = currentDatabase() "
            "ORDER BY table, name"
        )
        kpi_rows = client.execute("SELECT count() FROM kpi_minute")[0][0]
    finally:
        client.close()
    return {"tables": tables, "columns": columns, "kpi_rows": kpi_rows}


def _variants(value: str) -> list[str]:
    """The value as one path segment or query value: encoded, and raw where HTTP allows."""
    out = [quote(value, safe=""), quote(value, safe="/")]
    if " " not in value and "\x00" not in value and '"' not in value:
        out.append(value)
    return list(dict.fromkeys(out))


def test_hostile_strings_in_every_parameter_get_400_or_404_and_change_nothing(
    stack: Stack,
) -> None:
    port = stack.env.web_port
    state = _clickhouse_state(stack)
    doc = call(port, "GET", "/api/openapi.json").json()
    tried: dict[tuple[str, str], set[int]] = {}
    for template, ops in doc["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            params = [*ops.get("parameters", []), *op.get("parameters", [])]
            token = stack.read_token if template.startswith("/api/") else stack.token
            for param in params:
                if param["in"] not in ("path", "query"):
                    continue
                for hostile in HOSTILE:
                    for value in _variants(hostile):
                        path = template
                        for other in params:  # the other path parameters: plausible values
                            if other["in"] == "path" and other is not param:
                                path = path.replace("{" + other["name"] + "}", CAMPAIGN)
                        if param["in"] == "path":
                            path = path.replace("{" + param["name"] + "}", value)
                        else:
                            path = path.replace("{campaign_id}", CAMPAIGN)
                            path = f"{path}?{param['name']}={value}"
                        path = path.replace("{endpoint}", "clicks")
                        body = b"{}" if method == "post" else None
                        got = call(port, method.upper(), path, body, token)
                        tried.setdefault((method, template), set()).add(got.status)
                        assert got.status < 500, (method, path, got.status, got.text[:300])
                        if template.startswith("/api/"):
                            assert got.status in (400, 404), (path, got.status, got.text[:300])
                        for secret in stack.secrets:
                            assert secret not in got.text
    assert ("get", "/api/campaigns/{campaign_id}/kpis") in tried
    # the ingest endpoint's name is a path segment too
    body = json.dumps([click()]).encode()
    for hostile in HOSTILE:
        for value in _variants(hostile):
            got = call(port, "POST", f"/ingest/{value}", body, stack.token)
            assert got.status == 404, (value, got.status, got.text[:300])
    assert _clickhouse_state(stack)["tables"] == state["tables"]
    assert _clickhouse_state(stack)["columns"] == state["columns"]
    assert _clickhouse_state(stack)["kpi_rows"] >= state["kpi_rows"]
    # the hostile campaign ids are unknown campaigns, nothing more
    status, body = stack.get("/api/campaigns")
    assert status == 200 and not any("'" in c["campaign_id"] for c in body["campaigns"])


# --- a worker of this module's own: low limits, pages behind the token, own broker ----


@dataclass
class Own:
    env: PipelineEnv
    broker: LocalKafka
    worker: subprocess.Popen[bytes]
    read_token: str
    token: str
    secrets: tuple[str, ...]
    log: Path
    clickhouse_url: str  # with the password, for the test's own reads

    @property
    def port(self) -> int:
        return self.env.web_port


#: the own worker's limits: 1 request/s per token after a burst of 10
BURST = 10


@pytest.fixture(scope="module")
def own(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Own]:
    # kafka_bootstrap: the session's broker installed the Kafka jars this one runs from
    home = tmp_path_factory.mktemp("security")
    broker = LocalKafka(home / "kafka", port=free_port())
    broker.start()
    broker.wait_ready()
    # a ClickHouse server whose user has a password: the worker must use the secret
    # setting to get in at all
    server = LocalClickHouseServer(home / "clickhouse", password=secrets.token_urlsafe(18))
    server.start()
    name = f"sec-{uuid.uuid4().hex[:8]}"
    full_url = server.funnelwatch_url
    parts = urlsplit(full_url)
    password = unquote(parts.password or "")
    netloc = f"{parts.username}@{parts.hostname}:{parts.port}"
    worker_url = urlunsplit(parts._replace(netloc=netloc))
    read_token, token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    webhook = f"http://127.0.0.1:9/{secrets.token_urlsafe(16)}"
    env = PipelineEnv(
        broker.bootstrap,
        worker_url,
        home,
        name,
        partitions=2,
        extra_env={
            "FUNNELWATCH_INGEST_TOKEN": token,
            "FUNNELWATCH_READ_TOKEN": read_token,
            "FUNNELWATCH_CLICKHOUSE_PASSWORD": password,
            "FUNNELWATCH_ALERT_WEBHOOK_URL": webhook,
            "FUNNELWATCH_WEB_PAGES_ACCESS": "token",
            "FUNNELWATCH_INGEST_MAX_BODY_BYTES": "5000000",
            "FUNNELWATCH_INGEST_ACK_TIMEOUT_SECONDS": "3",
            "FUNNELWATCH_RATE_LIMIT_PER_SECOND": "1",
            "FUNNELWATCH_RATE_LIMIT_PER_CLIENT_PER_SECOND": "1000",
            "FUNNELWATCH_RATE_LIMIT_BURST": str(BURST),
            "FUNNELWATCH_BATCH_MAX_SECONDS": "0.3",
        },
    )
    env.run("topics", "create")
    log = home / "worker.log"
    # info level: the most the worker says, all of which must be free of secrets
    worker = subprocess.Popen(
        [*FUNNELWATCH, "worker", "-l", "info"],
        env=env.environ(),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                call(env.web_port, "GET", "/api/openapi.json")
                break
            except OSError:
                assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "the worker did not start"
                time.sleep(0.5)
        values = (read_token, token, webhook, password)
        yield Own(env, broker, worker, read_token, token, values, log, full_url)
    finally:
        stop(worker)
        broker.stop()
        server.stop()


def test_in_token_mode_metrics_and_board_need_the_read_token_on_loopback_too(own: Own) -> None:
    for path in ("/metrics", "/"):
        assert call(own.port, "GET", path).status == 401
        assert call(own.port, "GET", path, token=own.token).status == 403
        assert call(own.port, "GET", path, token=own.read_token).status == 200


def test_ten_thousand_events_in_one_request_are_413_and_none_reaches_kafka(own: Own) -> None:
    before = end_offsets(own.env)
    events = [click() for _ in range(10_000)]
    body = json.dumps(events).encode()
    assert len(body) < 5_000_000  # under the body limit: the event bound refuses it
    got = call(own.port, "POST", "/ingest/clicks", body, own.token)
    assert got.status == 413, got.text[:300]
    assert "10000 events" in got.json()["error"] and "limit of 1000" in got.json()["error"]
    time.sleep(1)
    assert end_offsets(own.env) == before


def test_a_flood_above_the_rate_limit_gets_429_and_every_admitted_request_is_produced(
    own: Own,
) -> None:
    time.sleep(BURST + 1)  # a full bucket whatever the tests before spent
    before = end_offsets(own.env)
    admitted: list[str] = []
    refused: list[Answer] = []
    for _ in range(3 * BURST):
        event = click()
        got = call(own.port, "POST", "/ingest/clicks", json.dumps(event).encode(), own.token)
        if got.status == 202:
            admitted.append(event["event_id"])
        else:
            refused.append(got)
    assert BURST <= len(admitted) <= BURST + 3, len(admitted)  # + what refills meanwhile
    assert refused and all(r.status == 429 for r in refused), [r.status for r in refused]
    for r in refused:
        assert int(r.headers["Retry-After"]) >= 1
        assert "rate limit" in r.json()["error"]
    produced = [e["event_id"] for e in clicks_since(own.env, before)]
    assert sorted(produced) == sorted(admitted)
    # the limit is per token: the API's reads are not ingest and are not limited by it
    assert call(own.port, "GET", "/api/alerts", token=own.read_token).status == 200


def test_with_kafka_stopped_ingest_answers_503_in_seconds_and_a_retry_later_counts_once(
    own: Own,
) -> None:
    time.sleep(3)  # budget for the two requests below
    events = [click(campaign="cmp-outage") for _ in range(5)]
    body = json.dumps(events).encode()
    ids = {e["event_id"] for e in events}
    own.broker.stop()
    try:
        started = time.monotonic()
        got = call(own.port, "POST", "/ingest/clicks", body, own.token)
        took = time.monotonic() - started
        assert got.status == 503, got.text
        assert "retry" in got.json()["error"]
        assert took < 8, took  # FUNNELWATCH_INGEST_ACK_TIMEOUT_SECONDS=3, never Faust's 1,200 s
        assert own.worker.poll() is None
    finally:
        own.broker.start()
        own.broker.wait_ready()
    deadline = time.monotonic() + 90
    while True:  # the producer reconnects on its own schedule
        retry = call(own.port, "POST", "/ingest/clicks", body, own.token)
        if retry.status == 202 or time.monotonic() > deadline:
            break
        assert retry.status in (503, 429), retry.text
        time.sleep(2)
    assert retry.status == 202, retry.text
    # the topic holds every event; a record of the refused request the producer still
    # delivered is the same event (same event_id), which the pipeline counts once
    stored = [e["event_id"] for e in clicks_since(own.env, {}) if e["event_id"] in ids]
    assert set(stored) == ids
    # drained: Kafka's view of the lag (the worker's /metrics needs the token here)
    deadline = time.monotonic() + 180
    while own.env.lag() > 0:
        assert own.worker.poll() is None, own.log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, own.env.lag_by_partition()
        time.sleep(1)
    client = connect(own.clickhouse_url)
    try:
        (clicks,) = client.execute(
            "SELECT sum(events) FROM kpi_minute FINAL "
            "WHERE campaign_id = 'cmp-outage' AND stage = 'click' AND dim = 'all'"
        )[0]
    finally:
        client.close()
    assert clicks == len(events), (clicks, len(stored))


# --- secrets ---------------------------------------------------------------------


def test_settings_command_and_worker_logs_show_no_secret(stack: Stack, own: Own) -> None:
    for env, values, logs in (
        (stack.env, stack.secrets, [stack.env.home / "worker.log"]),
        (own.env, own.secrets, [own.log]),
    ):
        assert all(values), "every secret of the run is set"
        for args in (("settings",), ("settings", "--markdown")):
            out = env.run(*args)
            text = out.stdout + out.stderr
            assert "FUNNELWATCH_READ_TOKEN" in text
            for secret in values:
                assert secret not in text, (args, "a secret was printed")
        shown = env.run("settings").stdout
        assert "FUNNELWATCH_READ_TOKEN=(secret, set)" in shown
        assert "FUNNELWATCH_ALERT_WEBHOOK_URL=(secret, set)" in shown
        if env is own.env:  # the shared server's user has no password
            assert "FUNNELWATCH_CLICKHOUSE_PASSWORD=(secret, set)" in shown
        for log in logs:
            text = log.read_text(errors="replace")
            for secret in values:
                assert secret not in text, (log.name, "a secret was logged")
    # nor do API answers carry one (the stack's: its alerts, campaigns, bids)
    for path in API:
        status, body = stack.get(path)
        assert status == 200
        for secret in stack.secrets:
            assert secret not in json.dumps(body)
    # the own worker logged at info level, its outage included: there was something to say
    assert "Kafka did not acknowledge" in own.log.read_text(errors="replace")
