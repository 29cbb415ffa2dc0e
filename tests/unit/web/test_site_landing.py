"""A /collect body -> the landing's ad_click: only the snippet's fields, nothing the
browser could use to set money, times or ids; the event passes the ingest contracts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from funnelwatch.processors.web.ingest import Rejection
from funnelwatch.processors.web.landing import (
    MAX_BODY_BYTES,
    Landing,
    checked_event,
    decode_body,
    device_of,
    landing_event,
    landing_event_id,
    parse_landing,
    site_key_of,
)
from funnelwatch.schemas.contracts import Limits, validate_mapping
from funnelwatch.schemas.events import AdClick

NOW = datetime(2026, 11, 1, 12, 0, 5, 250_000, tzinfo=UTC)
CHROME_DESKTOP = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def body(**kw: Any) -> dict[str, Any]:
    out = {
        "site_key": "pk_shop",
        "click_id": "Cj0KCQiA-gclid_1",
        "click_id_type": "gclid",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "cmp-winter",
        "utm_content": "ag-boots",
    }
    out.update(kw)
    return {k: v for k, v in out.items() if v is not None}


def landing(**kw: Any) -> Landing:
    return parse_landing(decode_body(json.dumps(body(**kw)).encode()))


def test_a_gclid_landing_becomes_a_free_google_click_of_its_utm_campaign() -> None:
    event = landing_event(landing(), NOW, CHROME_DESKTOP)
    assert event == {
        "event_type": "ad_click",
        "event_id": landing_event_id("Cj0KCQiA-gclid_1"),
        "event_time": "2026-11-01T12:00:05.250Z",
        "schema_version": 1,
        "click_id": "Cj0KCQiA-gclid_1",
        "campaign_id": "cmp-winter",
        "ad_group_id": "ag-boots",
        "ad_id": "(unknown)",
        "channel": "google",
        "cost_micros": 0,
        "device": "desktop",
        "geo": "(unknown)",
    }
    assert isinstance(validate_mapping(event, Limits(), NOW), AdClick)


@pytest.mark.parametrize(
    "click_id_type,utm_source,channel",
    [
        ("gbraid", None, "google"),
        ("wbraid", "newsletter", "google"),
        ("yclid", None, "yandex"),
        ("fbclid", "facebook", "meta"),
        ("msclkid", None, "bing"),
        ("fw", "LinkedIn", "linkedin"),
        ("fw", None, "(unknown)"),
    ],
)
def test_channel_is_the_click_id_platform_else_the_utm_source(
    click_id_type: str, utm_source: str | None, channel: str
) -> None:
    got = landing(click_id_type=click_id_type, utm_source=utm_source)
    assert landing_event(got, NOW, None)["channel"] == channel


def test_a_landing_without_utm_campaign_is_an_unattributed_click() -> None:
    event = landing_event(landing(utm_campaign=None, utm_content=None), NOW, None)
    assert (event["campaign_id"], event["ad_group_id"]) == ("(unattributed)", "(unknown)")


def test_every_report_of_one_click_id_is_one_event_and_other_click_ids_are_others() -> None:
    first = landing_event(landing(), NOW, CHROME_DESKTOP)
    reload = landing_event(landing(utm_term="boots"), NOW.replace(hour=13), None)
    other = landing_event(landing(click_id="Cj0KCQiA-gclid_2"), NOW, CHROME_DESKTOP)
    assert first["event_id"] == reload["event_id"] != other["event_id"]
    assert len(landing_event_id("x" * 200)) <= 200


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("cost_micros", 5_000_000, "not a field the snippet sends"),
        ("event_time", "2020-01-01T00:00:00Z", "not a field the snippet sends"),
        ("event_id", "mine", "not a field the snippet sends"),
        ("campaign_id", "cmp-other", "not a field the snippet sends"),
        ("click_id", 42, "expected a string"),
        ("utm_campaign", ["a"], "expected a string"),
        ("utm_term", "t" * 201, "longer than 200 characters"),
        ("click_id", "   ", "required"),
        ("click_id", "has space", "printable ASCII"),
        ("click_id_type", "ttclid", "must be one of gclid, gbraid"),
        ("click_id_type", None, "required"),
    ],
)
def test_a_body_with_other_fields_or_bad_values_is_refused_with_the_field_named(
    field: str, value: Any, message: str
) -> None:
    data = body()
    data.pop(field, None)
    if value is not None:
        data[field] = value
    with pytest.raises(Rejection) as err:
        parse_landing(data)
    assert err.value.status == 400
    assert message in err.value.message
    assert [p["field"] for p in err.value.problems] == [field]


@pytest.mark.parametrize(
    "raw,status,message",
    [
        (b"{", 400, "invalid JSON"),
        (b"\xff\xfe", 400, "invalid JSON"),
        (b"[1, 2]", 400, "expected a JSON object, got list"),
        (b'"pk_shop"', 400, "expected a JSON object, got str"),
        (b" " * (MAX_BODY_BYTES + 1), 413, f"limit of {MAX_BODY_BYTES} bytes"),
    ],
)
def test_a_body_that_is_no_small_json_object_is_refused(
    raw: bytes, status: int, message: str
) -> None:
    with pytest.raises(Rejection) as err:
        decode_body(raw)
    assert (err.value.status, message in err.value.message) == (status, True)


@pytest.mark.parametrize("key", [None, "", "  ", 7])
def test_a_body_without_a_site_key_is_refused(key: Any) -> None:
    data = body()
    data["site_key"] = key
    with pytest.raises(Rejection) as err:
        site_key_of(data)
    assert err.value.status == 400
    assert err.value.problems[0]["field"] == "site_key"


def test_utm_tags_are_trimmed_and_empty_ones_dropped() -> None:
    got = landing(utm_source="  google ", utm_medium="", utm_term="   ")
    assert got.utm == {
        "utm_source": "google",
        "utm_campaign": "cmp-winter",
        "utm_content": "ag-boots",
    }


def test_the_checked_event_passes_the_ingest_contracts() -> None:
    event = checked_event(landing(), NOW, CHROME_DESKTOP, Limits())
    assert event["click_id"] == "Cj0KCQiA-gclid_1"
    assert event["cost_micros"] == 0


def test_an_event_the_contracts_refuse_is_a_400_naming_the_event_field() -> None:
    late = Limits(min_event_time=NOW.replace(year=2027))
    with pytest.raises(Rejection) as err:
        checked_event(landing(), NOW, None, late)
    assert err.value.status == 400
    assert [p["field"] for p in err.value.problems] == ["event_time"]


@pytest.mark.parametrize(
    "user_agent,device",
    [
        (CHROME_DESKTOP, "desktop"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "tablet",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "tablet",
        ),
        (None, "(unknown)"),
        ("", "(unknown)"),
    ],
)
def test_device_comes_from_the_user_agent(user_agent: str | None, device: str) -> None:
    assert device_of(user_agent) == device
