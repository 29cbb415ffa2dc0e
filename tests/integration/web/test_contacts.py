"""Contact linking against the real stack: a form ingested with an e-mail and a phone is
found by the hash of the same address spelled otherwise, and the raw address and number
are nowhere — not in any of the run's Kafka topics, not in any ClickHouse table, not in
the worker's log. A form a producer wrote to Kafka with raw fields still counts, and
its raw fields go no further than the topic the producer wrote them to."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import phonenumbers
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from pydantic import SecretStr

from funnelwatch.connectors.contacts import contact_hashes, lead_for_contacts
from funnelwatch.processors.source.placement import owner_partition
from funnelwatch.streams.catalogue import catalogue

from .conftest import CONTACT_SALT, Stack

pytestmark = pytest.mark.integration

SALT = SecretStr(CONTACT_SALT)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _berlin_number() -> str:
    """A fresh valid Berlin number's 8 subscriber digits (unique to this run)."""
    while True:
        digits = f"{random.randrange(10**7, 10**8)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(f"+4930{digits}")):
            return digits


def form(lead_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_type": "form_submission", "event_id": f"ct-{uuid.uuid4().hex}",
        "event_time": _now(), "schema_version": 1, "lead_id": lead_id, "form_id": "f-ct",
        "form_type": "demo_request", "utm_campaign": "cmp-contacts", **fields,
    }  # fmt: skip


def _post_forms(stack: Stack, body: Any) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {stack.token}"}
    return stack.request("POST", "/ingest/forms", json.dumps(body).encode(), headers)


def _wait_for_lead(stack: Stack, hashes: tuple[str, ...], timeout: float = 90) -> str | None:
    client = stack.client()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = lead_for_contacts(client, hashes)
            if found is not None:
                return found
            time.sleep(0.5)
        return None
    finally:
        client.close()


def _topics_text(stack: Stack, skip: Collection[str] = ()) -> dict[str, bytes]:
    """Every record (key, value, headers) of every topic of the run, per topic."""
    admin = KafkaAdminClient(bootstrap_servers=stack.env.bootstrap)
    try:
        names = sorted(t for t in admin.list_topics() if t.startswith(stack.env.name))
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=stack.env.bootstrap, consumer_timeout_ms=3000)
    out: dict[str, bytes] = {}
    try:
        for name in names:
            if name in skip:
                continue
            tps = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
            ends = consumer.end_offsets(tps)
            consumer.assign(tps)
            consumer.seek_to_beginning()
            chunks: list[bytes] = []
            left = {tp for tp in tps if ends[tp] > 0}
            while left:
                polled = consumer.poll(timeout_ms=2000)
                if not polled:
                    break
                for tp, records in polled.items():
                    for r in records:
                        chunks += [r.key or b"", r.value or b""]
                        chunks += [v or b"" for _, v in r.headers or ()]
                        if r.offset + 1 >= ends[tp]:
                            left.discard(tp)
            assert not left, f"{name}: could not read to the end"
            out[name] = b"\n".join(chunks)
    finally:
        consumer.close()
    return out


def _clickhouse_text(stack: Stack) -> dict[str, str]:
    """Every row of every table of the worker's database, as text, per table."""
    client = stack.client()
    try:
        tables = [str(r[0]) for r in client.execute(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND engine NOT LIKE '%%View%%'"
        )]  # fmt: skip
        # table names come from system.tables, not from input
        return {t: repr(client.execute(f"SELECT * FROM {t}")) for t in tables}
    finally:
        client.close()


def _digit_needles(digits: str) -> list[str]:
    # long enough that no timestamp, offset or hash of the run holds them by chance
    return [f"30{digits}", f"{digits[:4]}-{digits[4:]}"]


def _assert_nowhere(stack: Stack, needles: list[str], skip_topics: Collection[str]) -> None:
    for topic, records in _topics_text(stack, skip_topics).items():
        for needle in needles:
            assert needle.encode() not in records.lower(), f"{needle!r} in topic {topic}"
    for table, rows in _clickhouse_text(stack).items():
        for needle in needles:
            assert needle not in rows.lower(), f"{needle!r} in table {table}"
    log = (stack.env.home / "worker.log").read_text(errors="replace").lower()
    for needle in needles:
        assert needle not in log, f"{needle!r} in the worker's log"


def test_an_ingested_forms_contacts_link_its_lead_and_are_stored_nowhere_raw(
    stack: Stack,
) -> None:
    tag, digits = uuid.uuid4().hex[:10], _berlin_number()
    lead_id = f"lead-ct-{tag}"
    email, phone = f"Jane.{tag}@Example.COM", f"+49 (30) {digits[:4]}-{digits[4:]}"
    status, got = _post_forms(stack, form(lead_id, email=email, phone=phone))
    assert (status, got) == (202, {"accepted": 1, "produced": 1, "duplicates": 0})

    # the CRM's spelling of the same address and number
    assert _wait_for_lead(stack, contact_hashes(SALT, email=f"  jane.{tag}@example.com")) == lead_id
    national = contact_hashes(SALT, phone=f"030 {digits}", default_country="DE")
    assert _wait_for_lead(stack, national) == lead_id
    client = stack.client()
    try:  # and the form counts as a lead like any other
        (count,) = client.execute(
            "SELECT count() FROM funnel_facts WHERE lead_id = %(lead)s", {"lead": lead_id}
        )[0]
    finally:
        client.close()
    assert count >= 1
    _assert_nowhere(stack, [f"jane.{tag}", *_digit_needles(digits)], skip_topics=())


def test_a_form_with_raw_contacts_written_to_kafka_counts_and_goes_no_further(
    stack: Stack,
) -> None:
    tag, digits = uuid.uuid4().hex[:10], _berlin_number()
    forms_topic = catalogue(stack.env.settings).forms.name
    partitions = stack.env.partitions
    # a lead whose owner is another partition than the one written to: it is forwarded
    lead_id = next(f"lead-raw-{tag}-{i}" for i in range(100)
                   if owner_partition(f"lead-raw-{tag}-{i}", partitions) == 1)  # fmt: skip
    event = form(lead_id, email=f"raw.{tag}@example.com", phone=f"+4930{digits}")
    before = stack.env.metric("funnelwatch_raw_contact_records_total") or 0.0
    producer = KafkaProducer(bootstrap_servers=stack.env.bootstrap)
    try:
        producer.send(forms_topic, json.dumps(event).encode(), key=lead_id.encode(), partition=0)
        producer.flush(30)
    finally:
        producer.close()
    client = stack.client()
    try:
        deadline, count = time.monotonic() + 90, 0
        while time.monotonic() < deadline and not count:
            count = client.execute(
                "SELECT count() FROM funnel_facts WHERE lead_id = %(lead)s", {"lead": lead_id}
            )[0][0]
            time.sleep(0.5)
    finally:
        client.close()
    assert count >= 1  # the form counts
    after = stack.env.metric("funnelwatch_raw_contact_records_total") or 0.0
    assert after >= before + 1
    _assert_nowhere(stack, [f"raw.{tag}", *_digit_needles(digits)], skip_topics={forms_topic})
    # the producer's own topic does hold them: the search finds what is there
    assert f"raw.{tag}".encode() in _topics_text(stack)[forms_topic]


def test_contact_fields_on_a_crm_event_are_refused_and_not_echoed(stack: Stack) -> None:
    event = {
        "event_type": "crm_event", "event_id": f"ct-{uuid.uuid4().hex}", "event_time": _now(),
        "schema_version": 1, "lead_id": "lead-ct-crm", "status": "contacted",
        "email": "crm.person@example.com",
    }  # fmt: skip
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {stack.token}"}
    status, got = stack.request("POST", "/ingest/crm", json.dumps(event).encode(), headers)
    assert status == 400, got
    assert [p["field"] for p in got["problems"]] == ["email"]
    assert "crm.person" not in json.dumps(got)
