"""CRM webhooks against a running worker of their own (its own Kafka broker, which one test
stops; the Debian ClickHouse server): verified deliveries become the mapped crm_events on
the crm topic, repeated deliveries keep one event id, unmapped stages are stored, counted
and listed by `funnelwatch crm unmapped`, refused deliveries produce nothing, and with
Kafka or ClickHouse away the answer is a prompt 503 whose retry loses nothing."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from pydantic import SecretStr

from funnelwatch.clickhouse import connect
from funnelwatch.connectors.contacts import contact_hashes
from funnelwatch.localstack.kafka import LocalKafka
from funnelwatch.localstack.ports import free_port
from funnelwatch.streams.catalogue import catalogue
from tests.support import crm
from tests.support.pipeline import PipelineEnv, stop

pytestmark = pytest.mark.integration

PUBLIC_URL = "https://funnel.example.com"


@dataclass
class CrmStack:
    env: PipelineEnv
    url: str
    broker: LocalKafka

    def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.env.web_port}{path}",
            data=body,
            method="POST",
            headers=headers or {},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return status, json.loads(raw)

    def hubspot(self, body: bytes, **signing: Any) -> tuple[int, Any]:
        path = "/ingest/crm/hubspot"
        return self.post(path, body, crm.hubspot_headers(PUBLIC_URL + path, body, **signing))

    def crm_topic(self) -> list[TopicPartition]:
        name = catalogue(self.env.settings).crm.name
        return [TopicPartition(name, p) for p in range(self.env.partitions)]

    def end_offsets(self) -> dict[TopicPartition, int]:
        consumer = KafkaConsumer(bootstrap_servers=self.env.bootstrap)
        try:
            return dict(consumer.end_offsets(self.crm_topic()))
        finally:
            consumer.close()

    def crm_records(self) -> list[tuple[str, dict[str, Any]]]:
        """Every (key, value) on the crm topic."""
        consumer = KafkaConsumer(
            bootstrap_servers=self.env.bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000
        )
        try:
            tps = self.crm_topic()
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            return [(m.key.decode(), json.loads(m.value)) for m in consumer]
        finally:
            consumer.close()

    def events_with(self, event_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(k, v) for k, v in self.crm_records() if v["event_id"] == event_id]

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        client = connect(self.url)
        try:
            return client.execute(sql, params)
        finally:
            client.close()


@pytest.fixture(scope="module")
def crm_stack(
    clickhouse_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CrmStack]:
    home: Path = tmp_path_factory.mktemp("crm")
    broker = LocalKafka(home / "kafka", port=free_port())
    broker.install()
    broker.start()
    broker.wait_ready()
    name = f"crm-{uuid.uuid4().hex[:8]}"
    db = name.replace("-", "_")
    admin = connect(clickhouse_server_url)
    admin.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    admin.close()
    url = clickhouse_server_url.rsplit("/", 1)[0] + "/" + db
    mapping = home / "crm.yaml"
    mapping.write_text(crm.MAPPING_YAML)
    env = PipelineEnv(
        broker.bootstrap,
        url,
        home,
        name,
        partitions=2,
        extra_env={
            "FUNNELWATCH_CRM_MAPPING_FILE": str(mapping),
            "FUNNELWATCH_CRM_PUBLIC_URL": PUBLIC_URL,
            "FUNNELWATCH_CRM_HUBSPOT_CLIENT_SECRET": crm.HUBSPOT_SECRET,
            "FUNNELWATCH_CRM_PIPEDRIVE_USER": crm.PIPEDRIVE_USER,
            "FUNNELWATCH_CRM_PIPEDRIVE_PASSWORD": crm.PIPEDRIVE_PASSWORD,
            "FUNNELWATCH_CRM_AMOCRM_TOKEN": crm.AMOCRM_TOKEN,
            "FUNNELWATCH_CRM_BITRIX24_APPLICATION_TOKEN": crm.BITRIX24_TOKEN,
            "FUNNELWATCH_CONTACT_HASH_SALT": crm.CONTACT_SALT,
            "FUNNELWATCH_BATCH_MAX_SECONDS": "0.3",
        },
    )
    env.run("topics", "create")
    worker = env.start_worker()
    try:
        env.wait_drained(worker, timeout=180)
        yield CrmStack(env, url, broker)
        assert worker.poll() is None, env.tail()
        # the pipeline took every produced crm_event (extra wire fields, unlinked lead ids)
        env.wait_drained(worker, timeout=120)
        metrics = (env.metrics_text(worker) or "").splitlines()
        dead = [ln for ln in metrics if ln.startswith("funnelwatch_dead_letters_total{")]
        assert dead and all(ln.endswith(" 0.0") for ln in dead), dead
        assert (env.metric('funnelwatch_events_total{event_type="crm_event"}', worker) or 0) >= 5
        log = env.tail(lines=100_000)
        for secret in (
            crm.HUBSPOT_SECRET,
            crm.PIPEDRIVE_PASSWORD,
            crm.AMOCRM_TOKEN,
            crm.BITRIX24_TOKEN,
            crm.CONTACT_SALT,
        ):
            assert secret not in log
        assert "@example.org" not in log and "ann@" not in log
    finally:
        stop(worker)
        broker.stop()


def _lead() -> str:
    return f"lead-{uuid.uuid4().hex[:10]}"


def _deal() -> str:
    return str(uuid.uuid4().int % 10**9)


def test_signed_hubspot_delivery_is_produced_as_the_mapped_crm_event(crm_stack: CrmStack) -> None:
    lead, deal = _lead(), _deal()
    body = crm.hubspot_workflow(deal, "closedwon", amount="1250.50", currency="EUR", lead_id=lead)
    status, answer = crm_stack.hubspot(body)
    assert (status, answer["produced"], answer["unmapped"]) == (200, 1, 0), answer
    [(key, event)] = crm_stack.events_with(f"crm:hubspot:deal:{deal}:default:closedwon")
    assert key == lead
    assert event["lead_id"] == lead and event["status"] == "won"
    assert event["deal_value_micros"] == 1_250_500_000 and event["deal_currency"] == "EUR"


def test_same_hubspot_delivery_twice_keeps_one_event_id(crm_stack: CrmStack) -> None:
    lead, deal = _lead(), _deal()
    body = crm.hubspot_workflow(deal, "appointmentscheduled", lead_id=lead)
    assert crm_stack.hubspot(body)[0] == 200
    # HubSpot's retry: the same body, signed again at a later time
    assert crm_stack.hubspot(body, timestamp_ms=crm.now_ms() + 1000)[0] == 200
    found = crm_stack.events_with(f"crm:hubspot:deal:{deal}:default:appointmentscheduled")
    assert len(found) == 2
    assert {e["event_id"] for _, e in found} == {
        f"crm:hubspot:deal:{deal}:default:appointmentscheduled"
    }
    assert {e["status"] for _, e in found} == {"contacted"}


@pytest.mark.parametrize(
    "case,reason",
    [("bad signature", "does not match"), ("expired", "expired"), ("unsigned", "missing")],
)
def test_refused_hubspot_delivery_gets_401_and_produces_nothing(
    crm_stack: CrmStack, case: str, reason: str
) -> None:
    body = crm.hubspot_workflow(_deal(), "closedwon", lead_id=_lead())
    path = "/ingest/crm/hubspot"
    if case == "bad signature":
        headers = crm.hubspot_headers(PUBLIC_URL + path, body, secret="not-the-secret")
    elif case == "expired":
        headers = crm.hubspot_headers(
            PUBLIC_URL + path, body, timestamp_ms=crm.now_ms() - 6 * 60 * 1000
        )
    else:
        headers = {"Content-Type": "application/json"}
    before = crm_stack.end_offsets()
    status, answer = crm_stack.post(path, body, headers)
    assert status == 401 and reason in answer["error"]
    time.sleep(0.5)
    assert crm_stack.end_offsets() == before


def test_unmapped_pipedrive_stage_is_stored_counted_and_listed(crm_stack: CrmStack) -> None:
    deal = int(_deal())
    body = crm.pipedrive_deal(deal, stage=7, lead_id=_lead())
    headers = {"Content-Type": "application/json", "Authorization": crm.basic_auth()}
    before = crm_stack.end_offsets()
    for _ in range(2):  # delivered twice: still one record
        status, answer = crm_stack.post("/ingest/crm/pipedrive", body, headers)
        assert (status, answer["unmapped"], answer["produced"]) == (200, 1, 0), answer
    assert crm_stack.end_offsets() == before
    [(record,)] = crm_stack.query(
        "SELECT any(record) FROM crm_unmapped WHERE provider = 'pipedrive' "
        "AND object_id = %(deal)s GROUP BY event_id",
        {"deal": str(deal)},
    )
    stored = json.loads(record)
    assert (stored["pipeline"], stored["stage"], stored["object_status"]) == ("1", "7", "open")
    unmapped = crm_stack.env.metric(
        'funnelwatch_crm_unmapped_total{pipeline="1",provider="pipedrive"}'
    )
    assert unmapped is not None and unmapped >= 2
    listed = crm_stack.env.run("crm", "unmapped").stdout
    [line] = [ln for ln in listed.splitlines() if ln.startswith("pipedrive")]
    assert line.split()[:4] == ["pipedrive", "1", "7", "1"]
    records = crm_stack.env.run("crm", "unmapped", "--records", "--provider", "pipedrive").stdout
    assert str(deal) in records


def test_pipedrive_wrong_basic_auth_gets_401(crm_stack: CrmStack) -> None:
    body = crm.pipedrive_deal(int(_deal()), stage=1, lead_id=_lead())
    headers = {"Authorization": crm.basic_auth(password="guess")}
    before = crm_stack.end_offsets()
    assert crm_stack.post("/ingest/crm/pipedrive", body, headers)[0] == 401
    assert crm_stack.end_offsets() == before


def test_amocrm_form_delivery_is_produced_and_a_wrong_token_refused(crm_stack: CrmStack) -> None:
    lead, amo_lead = _lead(), int(_deal())
    body = crm.amocrm_status(
        amo_lead, 142, price="99000", lead_id=lead, last_modified=int(time.time())
    )
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    before = crm_stack.end_offsets()
    assert crm_stack.post("/ingest/crm/amocrm?token=guess", body, form)[0] == 401
    assert crm_stack.end_offsets() == before
    status, answer = crm_stack.post(f"/ingest/crm/kommo?token={crm.AMOCRM_TOKEN}", body, form)
    assert (status, answer["produced"]) == (200, 1), answer
    [(key, event)] = [
        (k, e)
        for k, e in crm_stack.crm_records()
        if e["event_id"].startswith(f"crm:amocrm:lead:{amo_lead}:")
    ]
    assert key == lead and event["status"] == "won"
    assert (event["deal_value_micros"], event["deal_currency"]) == (99_000_000_000, "RUB")


def test_bitrix24_robot_links_by_contact_hash_else_counts_unlinked(crm_stack: CrmStack) -> None:
    lead = _lead()
    email = f"buyer-{uuid.uuid4().hex[:6]}@example.org"
    [hashed] = contact_hashes(SecretStr(crm.CONTACT_SALT), email=email)
    now = datetime.now(UTC).replace(microsecond=0)
    # the row the hot path writes for a form that carried this contact
    client = connect(crm_stack.url)
    try:
        client.insert(
            "lead_contacts",
            ("contact_hash", "lead_id", "lead_partition", "event_id", "minute", "event_time_ms"),
            [(hashed, lead, 0, f"form-{lead}", now, int(now.timestamp() * 1000))],
        )
    finally:
        client.close()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    linked, unlinked = int(_deal()), int(_deal())
    body = crm.bitrix24_robot(linked, "WON", email=email.upper(), event_token=f"t-{linked}")
    status, answer = crm_stack.post("/ingest/crm/bitrix24", body, form)
    assert (status, answer["produced"], answer["unlinked"]) == (200, 1, 0), answer
    body = crm.bitrix24_robot(unlinked, "NEW", event_token=f"t-{unlinked}")
    status, answer = crm_stack.post("/ingest/crm/bitrix24", body, form)
    assert (status, answer["produced"], answer["unlinked"]) == (200, 1, 1), answer
    by_deal = {
        e["event_id"].split(":")[3]: (k, e)
        for k, e in crm_stack.crm_records()
        if e["event_id"].startswith("crm:bitrix24:deal:")
    }
    assert by_deal[str(linked)][0] == lead
    assert by_deal[str(linked)][1]["deal_value_micros"] == 1_500_000_000
    assert by_deal[str(unlinked)][0] == f"crm-unlinked:bitrix24:{unlinked}"
    assert by_deal[str(unlinked)][1]["status"] == "contacted"


def test_unmapped_record_not_stored_gets_503_and_its_retry_keeps_it(crm_stack: CrmStack) -> None:
    deal = int(_deal())
    body = crm.pipedrive_deal(deal, stage=8)
    headers = {"Authorization": crm.basic_auth()}
    crm_stack.query("RENAME TABLE crm_unmapped TO crm_unmapped_away")
    try:
        status, answer = crm_stack.post("/ingest/crm/pipedrive", body, headers)
    finally:
        crm_stack.query("RENAME TABLE crm_unmapped_away TO crm_unmapped")
    assert status == 503 and "retry" in answer["error"]
    assert crm_stack.post("/ingest/crm/pipedrive", body, headers)[0] == 200
    rows = crm_stack.query(
        "SELECT uniqExact(event_id) FROM crm_unmapped WHERE object_id = %(deal)s",
        {"deal": str(deal)},
    )
    assert rows == [(1,)]


def test_bitrix24_outbound_event_is_acknowledged_and_unknown_crm_is_404(
    crm_stack: CrmStack,
) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    before = crm_stack.end_offsets()
    status, answer = crm_stack.post("/ingest/crm/bitrix24", crm.bitrix24_event(), form)
    assert (status, answer["produced"], answer["ignored"]) == (200, 0, 1)
    assert crm_stack.post("/ingest/crm/salesforce", b"{}")[0] == 404
    assert crm_stack.end_offsets() == before


def test_with_kafka_stopped_a_delivery_gets_503_in_seconds_and_its_retry_counts_once(
    crm_stack: CrmStack,
) -> None:
    lead, deal = _lead(), _deal()
    body = crm.hubspot_workflow(deal, "presentationscheduled", lead_id=lead)
    crm_stack.broker.stop()
    try:
        started = time.monotonic()
        status, answer = crm_stack.hubspot(body)
        took = time.monotonic() - started
        assert status == 503 and "retry" in answer["error"], answer
        assert took < 8, took  # HubSpot's budget is 4 s: within its 5 s timeout
    finally:
        crm_stack.broker.start()
        crm_stack.broker.wait_ready()
    deadline = time.monotonic() + 90
    while True:  # HubSpot retries, signing again; the producer reconnects on its own
        status, answer = crm_stack.hubspot(body)
        if status == 200 or time.monotonic() > deadline:
            break
        assert status == 503, answer
        time.sleep(2)
    assert status == 200, answer
    found = crm_stack.events_with(f"crm:hubspot:deal:{deal}:default:presentationscheduled")
    assert found and {(k, e["status"]) for k, e in found} == {(lead, "meeting_booked")}


def test_client_failing_verification_is_throttled_but_recovers(crm_stack: CrmStack) -> None:
    """Runs last: it spends this client address's budget (burst 40, 5/s by default)."""
    body = crm.pipedrive_deal(int(_deal()), stage=1)
    wrong = {"Authorization": crm.basic_auth(password="guess")}
    statuses = [crm_stack.post("/ingest/crm/pipedrive", body, wrong)[0] for _ in range(60)]
    # the burst is answered (401), then the address is refused before its body is read
    assert statuses[:40] == [401] * 40
    assert set(statuses) == {401, 429}
    time.sleep(1.5)
    right = {"Authorization": crm.basic_auth()}
    assert crm_stack.post("/ingest/crm/pipedrive", body, right)[0] == 200
