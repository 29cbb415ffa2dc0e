"""Bitrix24 robot calls and outbound events -> records."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import SecretStr

from funnelwatch.connectors.contacts import ContactHashing, contact_hashes
from funnelwatch.connectors.crm import bitrix24
from funnelwatch.connectors.crm.events import crm_event, record_hashes
from funnelwatch.connectors.crm.mapping import CrmMapping
from funnelwatch.connectors.crm.signatures import Unauthorized
from funnelwatch.schemas.contracts import validate_mapping
from tests.support.crm import BITRIX24_TOKEN, CONTACT_SALT, bitrix24_event, bitrix24_robot, delivery


def test_application_token_verifies_and_a_wrong_one_is_refused() -> None:
    bitrix24.verify(delivery(bitrix24_robot()), BITRIX24_TOKEN)
    with pytest.raises(Unauthorized, match="wrong auth"):
        bitrix24.verify(delivery(bitrix24_robot(token="0" * 32)), BITRIX24_TOKEN)
    with pytest.raises(Unauthorized, match="missing auth"):
        bitrix24.verify(delivery(b"event=ONCRMDEALUPDATE"), BITRIX24_TOKEN)


def test_won_robot_call_takes_the_money_value_and_its_currency(mapping: CrmMapping) -> None:
    body = bitrix24_robot(stage="WON", opportunity="1500.00|RUB", lead_id="lead-b24")
    [record] = bitrix24.parse(delivery(body), mapping.bitrix24).records
    assert (record.object_id, record.pipeline, record.stage) == ("759", "0", "WON")
    assert (record.deal_value, record.currency, record.lead_id) == (
        Decimal("1500.00"),
        "RUB",
        "lead-b24",
    )
    assert mapping.bitrix24.status_of(record.pipeline, record.stage) == "won"
    event = crm_event(record, "won", "lead-b24")
    assert event["deal_value_micros"] == 1_500_000_000
    validate_mapping(event)


def test_unmapped_stage_is_not_known(mapping: CrmMapping) -> None:
    [record] = bitrix24.parse(
        delivery(bitrix24_robot(stage="C3:NEW", category="3")), mapping.bitrix24
    ).records
    assert mapping.bitrix24.status_of(record.pipeline, record.stage) is None


def test_duplicate_robot_call_has_one_event_id(mapping: CrmMapping) -> None:
    first = bitrix24.parse(delivery(bitrix24_robot()), mapping.bitrix24).records[0]
    again = bitrix24.parse(delivery(bitrix24_robot()), mapping.bitrix24).records[0]
    other_run = bitrix24.parse(
        delivery(bitrix24_robot(event_token="56|x")), mapping.bitrix24
    ).records[0]
    assert first.event_id == again.event_id
    assert other_run.event_id != first.event_id


def test_robot_contact_properties_hash_like_a_form_contact(mapping: CrmMapping) -> None:
    body = bitrix24_robot(email="Buyer@Example.org", phone="+7 495 123-45-67")
    [record] = bitrix24.parse(delivery(body), mapping.bitrix24).records
    salt = SecretStr(CONTACT_SALT)
    assert record_hashes(record, ContactHashing(salt)) == contact_hashes(
        salt, email="buyer@example.org", phone="+74951234567"
    )


def test_outbound_event_with_the_id_only_is_acknowledged_not_kept(mapping: CrmMapping) -> None:
    parsed = bitrix24.parse(delivery(bitrix24_event()), mapping.bitrix24)
    assert parsed.records == [] and parsed.ignored == {"id_only": 1}
