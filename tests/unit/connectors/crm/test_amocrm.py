"""amoCRM/Kommo form-encoded lead status webhooks -> records."""

from __future__ import annotations

from decimal import Decimal

import pytest

from funnelwatch.connectors.crm import amocrm
from funnelwatch.connectors.crm.events import crm_event
from funnelwatch.connectors.crm.mapping import CrmMapping
from funnelwatch.connectors.crm.signatures import Unauthorized
from funnelwatch.schemas.contracts import validate_mapping
from tests.support.crm import AMOCRM_TOKEN, amocrm_status, delivery


def test_url_token_verifies_and_a_wrong_or_missing_one_is_refused() -> None:
    body = amocrm_status()
    amocrm.verify(delivery(body, query={"token": AMOCRM_TOKEN}), AMOCRM_TOKEN)
    with pytest.raises(Unauthorized, match="wrong token"):
        amocrm.verify(delivery(body, query={"token": "guess"}), AMOCRM_TOKEN)
    with pytest.raises(Unauthorized, match="missing token"):
        amocrm.verify(delivery(body), AMOCRM_TOKEN)


def test_won_status_takes_price_in_the_configured_currency(mapping: CrmMapping) -> None:
    body = amocrm_status(status=142, price="99000", lead_id="lead-amo-1")
    [record] = amocrm.parse(delivery(body), mapping.amocrm).records
    assert (record.object_id, record.pipeline, record.stage) == ("31337", "7000001", "142")
    assert record.lead_id == "lead-amo-1"
    assert mapping.amocrm.status_of(record.pipeline, record.stage) == "won"
    event = crm_event(record, "won", "lead-amo-1")
    assert (event["deal_value_micros"], event["deal_currency"]) == (99_000_000_000, "RUB")
    assert record.deal_value == Decimal("99000")
    validate_mapping(event)


def test_unmapped_status_is_not_known(mapping: CrmMapping) -> None:
    [record] = amocrm.parse(delivery(amocrm_status(status=61000009)), mapping.amocrm).records
    assert mapping.amocrm.status_of(record.pipeline, record.stage) is None


def test_duplicate_delivery_has_one_event_id(mapping: CrmMapping) -> None:
    first = amocrm.parse(delivery(amocrm_status(last_modified=1764590000)), mapping.amocrm)
    again = amocrm.parse(delivery(amocrm_status(last_modified=1764590000)), mapping.amocrm)
    assert (
        first.records[0].event_id
        == again.records[0].event_id
        == ("crm:amocrm:lead:31337:7000001:142:1764590000")
    )


def test_contact_updates_are_ignored(mapping: CrmMapping) -> None:
    parsed = amocrm.parse(delivery(b"contacts[update][0][id]=5"), mapping.amocrm)
    assert parsed.records == [] and parsed.ignored == {"not_a_lead_status": 1}
