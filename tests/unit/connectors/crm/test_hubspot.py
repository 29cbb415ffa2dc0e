"""HubSpot deliveries (workflow webhooks and webhook subscriptions) -> records."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import SecretStr

from funnelwatch.connectors.contacts import ContactHashing, contact_hashes
from funnelwatch.connectors.crm import hubspot
from funnelwatch.connectors.crm.events import crm_event, record_hashes
from funnelwatch.connectors.crm.mapping import CrmMapping
from funnelwatch.connectors.crm.model import MalformedDelivery
from funnelwatch.connectors.crm.signatures import Unauthorized
from funnelwatch.schemas.contracts import validate_mapping
from tests.support.crm import (
    CONTACT_SALT,
    HUBSPOT_SECRET,
    delivery,
    hubspot_headers,
    hubspot_subscription,
    hubspot_workflow,
)

URI = "https://funnel.example.com/ingest/crm/hubspot"


def _signed(body: bytes) -> None:
    hubspot.verify(delivery(body, hubspot_headers(URI, body), uri=URI), HUBSPOT_SECRET)


def test_signed_workflow_delivery_verifies() -> None:
    _signed(hubspot_workflow())


def test_tampered_workflow_delivery_is_refused() -> None:
    body = hubspot_workflow(stage="closedlost")
    headers = hubspot_headers(URI, body)
    with pytest.raises(Unauthorized):
        hubspot.verify(
            delivery(body.replace(b"closedlost", b"closedwon"), headers, uri=URI), HUBSPOT_SECRET
        )


def test_won_workflow_record_carries_value_currency_and_lead_id(mapping: CrmMapping) -> None:
    body = hubspot_workflow(stage="closedwon", amount="1250.50", lead_id="lead-42")
    [record] = hubspot.parse(delivery(body), mapping.hubspot).records
    assert (record.object_id, record.pipeline, record.stage) == ("9001", "default", "closedwon")
    assert record.lead_id == "lead-42"
    assert (record.deal_value, record.currency) == (Decimal("1250.50"), "EUR")
    status = mapping.hubspot.status_of(record.pipeline, record.stage)
    event = crm_event(record, "won", "lead-42")
    assert status == "won"
    assert event["deal_value_micros"] == 1_250_500_000
    assert event["deal_currency"] == "EUR"
    validate_mapping(event)


def test_unmapped_stage_is_a_record_the_mapping_does_not_know(mapping: CrmMapping) -> None:
    [record] = hubspot.parse(
        delivery(hubspot_workflow(stage="qualifiedtobuy")), mapping.hubspot
    ).records
    assert mapping.hubspot.status_of(record.pipeline, record.stage) is None


def test_all_properties_form_reads_like_the_custom_body(mapping: CrmMapping) -> None:
    body = json.dumps(
        {
            "objectId": 9001,
            "properties": {
                "dealstage": {"value": "closedwon", "timestamp": 1764000000000},
                "pipeline": {"value": "default"},
                "amount": {"value": "300"},
                "funnelwatch_lead_id": {"value": "lead-7"},
            },
        }
    ).encode()
    [record] = hubspot.parse(delivery(body), mapping.hubspot).records
    assert (record.object_id, record.stage, record.lead_id) == ("9001", "closedwon", "lead-7")
    assert record.deal_value == Decimal("300")


def test_same_change_delivered_twice_has_one_event_id(mapping: CrmMapping) -> None:
    first = hubspot.parse(delivery(hubspot_workflow(modified_ms=1)), mapping.hubspot).records[0]
    retried = hubspot.parse(delivery(hubspot_workflow(modified_ms=1)), mapping.hubspot).records[0]
    later_stage = hubspot.parse(
        delivery(hubspot_workflow(stage="closedlost", modified_ms=2)), mapping.hubspot
    ).records[0]
    assert first.event_id == retried.event_id == "crm:hubspot:deal:9001:default:closedwon"
    assert later_stage.event_id != first.event_id


def test_contact_links_through_the_same_salted_hash_a_form_gets(mapping: CrmMapping) -> None:
    body = hubspot_workflow(email="  Ann.Smith@Example.COM ", phone="+49 30 1234567")
    [record] = hubspot.parse(delivery(body), mapping.hubspot).records
    salt = SecretStr(CONTACT_SALT)
    hashes = record_hashes(record, ContactHashing(salt))
    assert hashes == contact_hashes(salt, email="ann.smith@example.com", phone="+49301234567")
    stored = json.dumps(record.normalised(hashes))
    assert "ann.smith" not in stored.lower() and "1234567" not in stored
    assert "Ann.Smith" not in repr(record)


def test_without_a_salt_no_contact_hash_is_made(mapping: CrmMapping) -> None:
    [record] = hubspot.parse(
        delivery(hubspot_workflow(email="a@b.example")), mapping.hubspot
    ).records
    assert record_hashes(record, None) == ()


def test_subscription_batch_keeps_dealstage_changes_keyed_by_event_id(
    mapping: CrmMapping,
) -> None:
    parsed = hubspot.parse(delivery(hubspot_subscription(event=41)), mapping.hubspot)
    [record] = parsed.records
    assert record.event_id == "crm:hubspot:event:41"
    assert (record.object_id, record.stage, record.pipeline, record.lead_id) == (
        "9001",
        "closedwon",
        "",
        None,
    )
    assert parsed.ignored == {"not_a_stage_change": 1}


@pytest.mark.parametrize("body", [b"{", b'"text"', b'{"dealstage": "closedwon"}'])
def test_malformed_workflow_bodies_are_refused(body: bytes, mapping: CrmMapping) -> None:
    with pytest.raises(MalformedDelivery):
        hubspot.parse(delivery(body), mapping.hubspot)
