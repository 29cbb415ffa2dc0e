"""HTTP ingest against the real stack: every refusal has its status and message and
leaves Kafka untouched; accepted events are in Kafka, keyed like the simulator's."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from funnelwatch.streams.catalogue import catalogue

from .conftest import Stack

pytestmark = pytest.mark.integration


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def click(**overrides: Any) -> dict[str, Any]:
    event = {
        "event_type": "ad_click",
        "event_id": f"ing-{uuid.uuid4().hex}",
        "event_time": _now(),
        "schema_version": 1,
        "click_id": f"c-{uuid.uuid4().hex[:12]}",
        "campaign_id": "cmp-ingest",
        "ad_group_id": "ag-1",
        "ad_id": "ad-1",
        "channel": "google",
        "cost_micros": 1_200_000,
    }
    event.update(overrides)
    return event


def _end_offsets(stack: Stack) -> dict[TopicPartition, int]:
    cat = catalogue(stack.env.settings)
    consumer = KafkaConsumer(bootstrap_servers=stack.env.bootstrap)
    try:
        tps = [TopicPartition(t.name, p) for t in cat.sources for p in range(stack.env.partitions)]
        return dict(consumer.end_offsets(tps))
    finally:
        consumer.close()


def _post(stack: Stack, endpoint: str, body: bytes, token: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return stack.request("POST", f"/ingest/{endpoint}", body, headers)


def _valid_batch_body() -> bytes:
    return json.dumps([click(), click()]).encode()


@pytest.mark.parametrize(
    "case,status,message",
    [
        ("no token", 401, "missing bearer token"),
        ("wrong token", 401, "unknown bearer token"),
        ("basic auth", 401, "malformed Authorization header"),
        ("oversized body", 413, "exceeds the limit of 20000 bytes"),
        ("invalid JSON", 400, "invalid JSON: Expecting"),
        ("empty batch", 400, "empty batch"),
        ("schema violations", 400, "problem(s): nothing was accepted"),
        ("wrong event type", 400, "problem(s): nothing was accepted"),
    ],
)
def test_refused_request_gets_its_status_and_produces_nothing(
    stack: Stack, case: str, status: int, message: str
) -> None:
    endpoint, token, body = "clicks", stack.token, _valid_batch_body()
    headers: dict[str, str] = {}
    if case == "no token":
        token = None
    elif case == "wrong token":
        token = stack.token + "x"
    elif case == "oversized body":
        body = json.dumps([click() for _ in range(80)]).encode()
        assert len(body) > 20000
    elif case == "invalid JSON":
        body = b'{"event_type": "ad_click",'
    elif case == "empty batch":
        body = b"[]"
    elif case == "schema violations":
        # one good event, then two bad ones: the good one must not be produced either
        body = json.dumps(
            [click(), click(cost_micros=-5, channel=None), click(event_time="yesterday")]
        ).encode()
    elif case == "wrong event type":
        endpoint = "forms"
    before = _end_offsets(stack)
    if case == "basic auth":
        headers = {"Authorization": "Basic dXNlcjpwYXNz"}
        got_status, got = stack.request("POST", "/ingest/clicks", body, headers)
    else:
        got_status, got = _post(stack, endpoint, body, token)
    assert got_status == status, got
    assert message in got["error"], got
    if case == "schema violations":
        assert {(p["index"], p["field"]) for p in got["problems"]} >= {
            (1, "cost_micros"),
            (1, "channel"),
            (2, "event_time"),
        }
        assert all(p["index"] != 0 for p in got["problems"])
        assert all(p["message"] for p in got["problems"])
    if case == "wrong event type":
        assert [(p["index"], p["field"]) for p in got["problems"]] == [
            (0, "event_type"),
            (1, "event_type"),
        ]
    time.sleep(0.5)  # a produce would be acknowledged long before this
    assert _end_offsets(stack) == before


def test_accepted_batch_is_in_kafka_keyed_by_click_id_and_retry_is_not_produced_again(
    stack: Stack,
) -> None:
    events = [click(), click(), click()]
    body = json.dumps(events).encode()
    before = _end_offsets(stack)
    status, got = _post(stack, "clicks", body, stack.token)
    assert (status, got) == (202, {"accepted": 3, "produced": 3, "duplicates": 0})
    after = _end_offsets(stack)
    grown = {tp: after[tp] - before[tp] for tp in after if after[tp] != before[tp]}
    clicks_topic = catalogue(stack.env.settings).clicks.name
    assert {tp.topic for tp in grown} == {clicks_topic}
    assert sum(grown.values()) == 3
    consumer = KafkaConsumer(bootstrap_servers=stack.env.bootstrap, consumer_timeout_ms=5000)
    try:
        consumer.assign(list(grown))
        for tp in grown:
            consumer.seek(tp, before[tp])
        records = []
        for record in consumer:
            records.append(record)
            if len(records) == 3:
                break
    finally:
        consumer.close()
    by_id = {e["event_id"]: e for e in events}
    for record in records:
        sent = json.loads(record.value)
        assert sent == by_id[sent["event_id"]]
        assert record.key == sent["click_id"].encode()
    # a webhook retry of the same events (and one repeated inside a request)
    status, got = _post(stack, "clicks", json.dumps([*events, events[0]]).encode(), stack.token)
    assert (status, got) == (202, {"accepted": 4, "produced": 0, "duplicates": 4})
    assert _end_offsets(stack) == after


def test_single_form_event_is_keyed_by_lead_id(stack: Stack) -> None:
    form = {
        "event_type": "form_submission",
        "event_id": f"ing-{uuid.uuid4().hex}",
        "event_time": _now(),
        "schema_version": 1,
        "lead_id": "lead-ingest-1",
        "form_id": "f-1",
        "form_type": "demo_request",
        "utm_campaign": "cmp-ingest",
    }
    before = _end_offsets(stack)
    status, got = _post(stack, "forms", json.dumps(form).encode(), stack.token)
    assert (status, got) == (202, {"accepted": 1, "produced": 1, "duplicates": 0})
    after = _end_offsets(stack)
    grown = [tp for tp in after if after[tp] != before[tp]]
    assert [tp.topic for tp in grown] == [catalogue(stack.env.settings).forms.name]
