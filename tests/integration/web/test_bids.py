"""Bid recommendations on the real stack: a campaign whose CPL is driven above its
target gets a lowering multiplier within the reaction time; a stall pauses it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from funnelwatch.streams.catalogue import catalogue

from .conftest import INGESTED, TARGET_CPL_MICROS, Stack
from .test_ingest import _now, _post, click

pytestmark = pytest.mark.integration

#: FUNNELWATCH_BID_INTERVAL_SECONDS of the stack, plus the pipeline's own latency
#: (attribution, a hot-path batch of at most 0.3 s): the reaction time the test allows
REACTION_SECONDS = 1 + 9


def _wait_for(stack: Stack, ok: Callable[[dict[str, Any]], bool], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        status, last = stack.get(f"/api/campaigns/{INGESTED}/bid")
        if status == 200 and ok(last):
            return last
        time.sleep(0.2)
    raise AssertionError(f"no such recommendation in {timeout}s; last: {last}")


def _clicks_and_leads(clicks: int, leads: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    cs = [click(campaign_id=INGESTED, cost_micros=1_000_000) for _ in range(clicks)]
    forms = [
        {
            "event_type": "form_submission",
            "event_id": f"f-{uuid.uuid4().hex}",
            "event_time": _now(),
            "schema_version": 1,
            "lead_id": f"lead-{uuid.uuid4().hex}",
            "form_id": "f-1",
            "form_type": "demo_request",
            "click_id": c["click_id"],
        }
        for c in cs[:leads]
    ]
    return cs, forms


def test_cpl_above_target_lowers_the_multiplier_and_a_stall_pauses_it(
    stack: Stack, measured: Callable[[str], None]
) -> None:
    # CPL exactly at target (30 clicks at 1.00, 10 leads: 3.00): hold
    cs, forms = _clicks_and_leads(30, 10)
    assert _post(stack, "clicks", json.dumps(cs).encode(), stack.token)[0] == 202
    assert _post(stack, "forms", json.dumps(forms).encode(), stack.token)[0] == 202
    held = _wait_for(stack, lambda b: b["results"] == 10 and b["clicks"] == 30, 30)
    assert held["action"] == "hold" and held["multiplier"] == 1.0, held
    assert held["cost_per_result_micros"] == TARGET_CPL_MICROS
    assert "within ±10%" in held["reason"]

    # 30 more clicks without a lead: CPL 6.00, twice the target
    more, _ = _clicks_and_leads(30, 0)
    sent = time.monotonic()
    assert _post(stack, "clicks", json.dumps(more).encode(), stack.token)[0] == 202
    lowered = _wait_for(stack, lambda b: b["action"] == "lower", REACTION_SECONDS)
    reacted = time.monotonic() - sent
    measured(f"CPL above target: lowering multiplier after {reacted:.1f}s")
    assert lowered["multiplier"] == 0.9
    assert lowered["cost_per_result_micros"] == 6_000_000
    assert "above target by 100%" in lowered["reason"]
    # the next evaluations hold: the minimum interval between changes (300 s) damps it
    time.sleep(2.5)
    _, again = stack.get(f"/api/campaigns/{INGESTED}/bid")
    assert (again["action"], again["multiplier"]) == ("hold", 0.9), again
    assert "next change allowed in" in again["reason"]

    # a stall alert opens: pause at once; it resolves: back to the multiplier before
    stack.insert_alert("stall-bid-test", INGESTED, "stall", "firing")
    paused = _wait_for(stack, lambda b: b["action"] == "pause", 5)
    assert paused["multiplier"] == 0.0 and paused["resume_multiplier"] == 0.9
    assert "stall alert is open" in paused["reason"]
    stack.insert_alert("stall-bid-test", INGESTED, "stall", "resolved")
    resumed = _wait_for(stack, lambda b: b["action"] != "pause", 5)
    assert resumed["multiplier"] == 0.9, resumed

    # and every evaluation went to the bid-recommendations topic, keyed by campaign
    topic = catalogue(stack.env.settings).bid_recommendations.name
    consumer = KafkaConsumer(bootstrap_servers=stack.env.bootstrap, consumer_timeout_ms=5000)
    mine = []
    try:
        # the advisor publishes every second: read up to the end offsets seen now
        tps = [TopicPartition(topic, p) for p in range(stack.env.partitions)]
        ends = consumer.end_offsets(tps)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        for record in consumer:
            tp = TopicPartition(record.topic, record.partition)
            if record.offset < ends[tp] and record.key == INGESTED.encode():
                mine.append(json.loads(record.value))
            if all(consumer.position(t) >= ends[t] for t in tps):
                break
    finally:
        consumer.close()
    assert [m["action"] for m in mine].count("lower") == 1
    assert "pause" in [m["action"] for m in mine]


def test_campaigns_under_the_default_target_get_recommendations(stack: Stack) -> None:
    status, body = stack.get("/api/campaigns")
    assert status == 200
    bids = [c["bid"] for c in body["campaigns"] if c["bid"] is not None]
    assert len(bids) >= 3
    assert all(b["target_micros"] == 5_000_000 for b in bids if b["campaign_id"] != INGESTED)
    assert all(0.5 <= b["multiplier"] <= 1.5 for b in bids)


def test_bid_of_a_campaign_without_recommendation_is_a_404(stack: Stack) -> None:
    status, body = stack.get("/api/campaigns/nobody/bid")
    assert status == 404
    assert "no bid recommendation for 'nobody'" in body["error"]
