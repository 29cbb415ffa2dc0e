"""Pipedrive webhooks v2 deal notifications -> records."""

from __future__ import annotations

from decimal import Decimal

import pytest

from funnelwatch.connectors.crm import pipedrive
from funnelwatch.connectors.crm.events import crm_event
from funnelwatch.connectors.crm.mapping import CrmMapping
from funnelwatch.connectors.crm.signatures import Unauthorized
from funnelwatch.schemas.contracts import validate_mapping
from tests.support.crm import (
    PIPEDRIVE_PASSWORD,
    PIPEDRIVE_USER,
    basic_auth,
    delivery,
    pipedrive_deal,
)


def test_right_basic_auth_verifies_and_wrong_is_refused() -> None:
    body = pipedrive_deal()
    pipedrive.verify(
        delivery(body, {"Authorization": basic_auth()}), PIPEDRIVE_USER, PIPEDRIVE_PASSWORD
    )
    with pytest.raises(Unauthorized, match="wrong"):
        pipedrive.verify(
            delivery(body, {"Authorization": basic_auth(password="guess")}),
            PIPEDRIVE_USER,
            PIPEDRIVE_PASSWORD,
        )
    with pytest.raises(Unauthorized, match="missing"):
        pipedrive.verify(delivery(body), PIPEDRIVE_USER, PIPEDRIVE_PASSWORD)


def test_stage_change_maps_through_pipeline_and_stage(mapping: CrmMapping) -> None:
    [record] = pipedrive.parse(
        delivery(pipedrive_deal(stage=2, lead_id="lead-9")), mapping.pipedrive
    ).records
    assert (record.pipeline, record.stage, record.object_status) == ("1", "2", "open")
    assert record.lead_id == "lead-9"
    assert mapping.pipedrive.status_of(record.pipeline, record.stage, record.object_status) == (
        "presentation_requested"
    )


def test_won_deal_takes_value_and_currency(mapping: CrmMapping) -> None:
    body = pipedrive_deal(
        stage=2, status="won", value=1999.99, currency="USD", previous={"status": "open"}
    )
    [record] = pipedrive.parse(delivery(body), mapping.pipedrive).records
    status = mapping.pipedrive.status_of(record.pipeline, record.stage, record.object_status)
    assert status == "won"
    event = crm_event(record, "won", "lead-9")
    assert (event["deal_value_micros"], event["deal_currency"]) == (1_999_990_000, "USD")
    assert record.deal_value == Decimal("1999.99")
    validate_mapping(event)


def test_unmapped_stage_is_not_known_to_the_mapping(mapping: CrmMapping) -> None:
    [record] = pipedrive.parse(delivery(pipedrive_deal(stage=7)), mapping.pipedrive).records
    assert mapping.pipedrive.status_of(record.pipeline, record.stage, record.object_status) is None


def test_change_without_stage_or_status_is_ignored(mapping: CrmMapping) -> None:
    parsed = pipedrive.parse(delivery(pipedrive_deal(previous={"title": "old"})), mapping.pipedrive)
    assert parsed.records == [] and parsed.ignored == {"not_a_stage_change": 1}


def test_duplicate_delivery_has_one_event_id(mapping: CrmMapping) -> None:
    first = pipedrive.parse(delivery(pipedrive_deal()), mapping.pipedrive).records[0]
    again = pipedrive.parse(delivery(pipedrive_deal()), mapping.pipedrive).records[0]
    moved = pipedrive.parse(
        delivery(pipedrive_deal(stage=1, update_time="2026-12-01T11:00:00Z")), mapping.pipedrive
    ).records[0]
    assert first.event_id == again.event_id
    assert moved.event_id != first.event_id


def test_other_entities_are_ignored(mapping: CrmMapping) -> None:
    body = b'{"meta": {"entity": "person", "action": "change"}, "data": {"id": 1}}'
    parsed = pipedrive.parse(delivery(body), mapping.pipedrive)
    assert parsed.records == [] and parsed.ignored == {"not_a_deal_change": 1}
