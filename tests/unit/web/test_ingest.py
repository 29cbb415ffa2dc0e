"""Ingest request checks as pure functions: token, body parsing, problems, dedup."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from funnelwatch.processors.web.access import Access
from funnelwatch.processors.web.ingest import (
    RecentIds,
    Rejection,
    check_token,
    parse_events,
    to_produce,
)
from funnelwatch.schemas.contracts import Limits

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def crm(**kw: Any) -> dict[str, Any]:
    event = {
        "event_type": "crm_event",
        "event_id": "e1",
        "event_time": "2026-11-01T11:59:00Z",
        "schema_version": 1,
        "lead_id": "L1",
        "status": "won",
        "deal_value_micros": 5,
    }
    event.update(kw)
    return event


def test_ingest_without_a_configured_token_is_disabled_with_503() -> None:
    with pytest.raises(Rejection) as err:
        check_token(Access(read=["r" * 20]), "Bearer anything")
    assert err.value.status == 503
    assert "FUNNELWATCH_INGEST_TOKEN" in err.value.message


@pytest.mark.parametrize(
    "header,status",
    [
        (None, 401),
        ("", 401),
        ("Bearer", 401),
        ("Token s3cret", 401),
        ("Bearer s3cre", 401),
        ("Bearer s3cretx", 401),
        ("Bearer reader", 403),
        ("Bearer pk_site", 403),
    ],
)
def test_missing_unknown_or_other_roles_token_is_refused(header: str | None, status: int) -> None:
    access = Access(read=["reader"], ingest=["s3cret"], site=["pk_site"])
    with pytest.raises(Rejection) as err:
        check_token(access, header)
    assert err.value.status == status
    assert "s3cret" not in err.value.message


def test_right_token_passes_and_names_its_principal() -> None:
    access = Access(ingest=["old-token", "s3cret"])
    assert check_token(access, "Bearer s3cret") == "ingest#2"
    assert check_token(access, "bearer s3cret") == "ingest#2"
    assert check_token(access, "Bearer old-token") == "ingest#1"


def test_problems_name_index_field_and_message() -> None:
    body = json.dumps([crm(), crm(status="maybe", lead_id=""), 7]).encode()
    with pytest.raises(Rejection) as err:
        parse_events(body, "crm", Limits(), NOW)
    problems = {(p["index"], p["field"]) for p in err.value.problems}
    assert problems == {(1, "status"), (1, "lead_id"), (2, "(root)")}
    assert err.value.status == 400


def test_future_events_and_absurd_costs_are_problems_of_their_field() -> None:
    click = {
        "event_type": "ad_click",
        "event_id": "e",
        "event_time": "2026-11-02T00:00:00Z",
        "schema_version": 1,
        "click_id": "c",
        "campaign_id": "x",
        "ad_group_id": "a",
        "ad_id": "a",
        "channel": "g",
        "cost_micros": 10**12,
    }
    with pytest.raises(Rejection) as err:
        parse_events(json.dumps(click).encode(), "clicks", Limits(), NOW)
    assert {p["field"] for p in err.value.problems} == {"event_time", "cost_micros"}


def test_single_object_and_array_are_both_accepted() -> None:
    assert len(parse_events(json.dumps(crm()).encode(), "crm", Limits(), NOW)) == 1
    assert len(parse_events(json.dumps([crm(), crm()]).encode(), "crm", Limits(), NOW)) == 2


def test_invalid_json_and_non_utf8_are_400() -> None:
    for body in (b"{", b"\xff\xfe", b""):
        with pytest.raises(Rejection) as err:
            parse_events(body, "crm", Limits(), NOW)
        assert err.value.status == 400


def test_repeated_and_recently_acknowledged_ids_are_not_produced() -> None:
    recent = RecentIds(2)
    recent.add("e1")
    batch = to_produce([crm(), crm(event_id="e2"), crm(event_id="e2")], "crm", recent)
    assert [(i, k) for i, k, _ in batch] == [("e2", b"L1")]
    assert json.loads(batch[0][2]) == crm(event_id="e2")


def test_recent_ids_forget_the_least_recently_seen() -> None:
    recent = RecentIds(2)
    recent.add("a")
    recent.add("b")
    assert "a" in recent  # touch a: b is now the oldest
    recent.add("c")
    assert "b" not in recent and "a" in recent and "c" in recent
    assert len(recent) == 2


def test_events_before_2000_are_refused_as_clickhouse_cannot_store_them() -> None:
    # found by the property-based API test: a 1900 event_time stopped the sink
    for when in ("1900-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "1999-12-31T23:59:59Z"):
        with pytest.raises(Rejection) as err:
            parse_events(json.dumps(crm(event_time=when)).encode(), "crm", Limits(), NOW)
        assert [p["field"] for p in err.value.problems] == ["event_time"]
        assert "ancient_event_time" in err.value.problems[0]["message"]


def test_integral_floats_and_numbers_beyond_64_bits_are_refused() -> None:
    # found by the property-based API test: cost_micros 1.0 passes JSON Schema's
    # "integer" but stopped the ClickHouse sink
    for value, text in ((1.0, "is not an integer"), (2**63, "does not fit in 64 bits")):
        with pytest.raises(Rejection) as err:
            parse_events(json.dumps(crm(deal_value_micros=value)).encode(), "crm", Limits(), NOW)
        assert [(p["field"], text in p["message"]) for p in err.value.problems] == [
            ("deal_value_micros", True)
        ]


def test_events_older_than_the_maximum_age_are_refused() -> None:
    # found by the property-based API test: a valid event from 2000 made the rolling
    # recompute span 26 years of minutes, and the OOM killer stopped ClickHouse
    old = crm(event_time="2026-10-01T11:59:00Z")  # 31 days before NOW
    with pytest.raises(Rejection) as err:
        parse_events(json.dumps(old).encode(), "crm", Limits(), NOW)
    assert "ancient_event_time" in err.value.problems[0]["message"]
    recent = crm(event_time="2026-10-03T12:00:00Z")
    assert parse_events(json.dumps(recent).encode(), "crm", Limits(), NOW)
