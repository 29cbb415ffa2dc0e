"""CRM webhook deliveries written from each provider's documented format, for the
connector tests: bodies, and the headers or URLs that prove their origin."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import urlencode

from funnelwatch.connectors.crm.model import Delivery
from funnelwatch.connectors.crm.signatures import hubspot_v3_signature

HUBSPOT_SECRET = "hs-client-secret-for-tests"
PIPEDRIVE_USER = "pd-hook"
PIPEDRIVE_PASSWORD = "pd-password-for-tests"
AMOCRM_TOKEN = "amo-token-for-tests-0123456789"
BITRIX24_TOKEN = "51856fefc120afa4b628cc82d3935cce"
CONTACT_SALT = "contact-salt-for-tests"
#: the lead-id fields the test mapping names
PIPEDRIVE_LEAD_FIELD = "0123456789abcdef0123456789abcdef01234567"
AMOCRM_LEAD_FIELD = "512345"

#: a mapping of every provider, as a user would write it (the connector tests load it)
MAPPING_YAML = f"""
hubspot:
  lead_id_field: funnelwatch_lead_id
  email_field: email
  phone_field: phone
  pipelines:
    default:
      appointmentscheduled: contacted
      presentationscheduled: meeting_booked
      closedwon: won
      closedlost: lost
pipedrive:
  lead_id_field: "{PIPEDRIVE_LEAD_FIELD}"
  statuses: {{won: won, lost: lost}}
  pipelines:
    1: {{1: contacted, 2: presentation_requested}}
amocrm:
  lead_id_field: "{AMOCRM_LEAD_FIELD}"
  currency: RUB
  pipelines:
    "*": {{142: won, 143: lost}}
    7000001: {{61000001: contacted}}
bitrix24:
  lead_id_field: lead_id
  email_field: email
  phone_field: phone
  pipelines:
    0: {{NEW: contacted, WON: won, LOSE: lost}}
"""


def now_ms() -> int:
    return int(time.time() * 1000)


def hubspot_headers(
    uri: str, body: bytes, secret: str = HUBSPOT_SECRET, timestamp_ms: int | None = None
) -> dict[str, str]:
    """The headers HubSpot sends with a v3-signed POST of ``body`` to ``uri``."""
    ts = str(now_ms() if timestamp_ms is None else timestamp_ms)
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": hubspot_v3_signature(secret, "POST", uri, body, ts),
        "X-HubSpot-Request-Timestamp": ts,
    }


def hubspot_workflow(
    deal: str = "9001",
    stage: str = "closedwon",
    *,
    pipeline: str = "default",
    amount: str | None = "1250.50",
    currency: str | None = "EUR",
    lead_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    modified_ms: int | None = None,
) -> bytes:
    """A deal workflow's "Send a webhook" body, customised to the properties funnelwatch
    reads (key = HubSpot property name)."""
    props: dict[str, Any] = {
        "hs_object_id": deal,
        "pipeline": pipeline,
        "dealstage": stage,
        "hs_lastmodifieddate": str(modified_ms or now_ms()),
    }
    extra = {
        "amount": amount,
        "deal_currency_code": currency,
        "funnelwatch_lead_id": lead_id,
        "email": email,
        "phone": phone,
    }
    props.update({k: v for k, v in extra.items() if v is not None})
    return json.dumps(props).encode()


def hubspot_subscription(deal: int = 9001, stage: str = "closedwon", event: int = 1) -> bytes:
    """A webhooks-API batch: a dealstage change and an unrelated contact event."""
    return json.dumps(
        [
            {
                "eventId": event,
                "subscriptionId": 77,
                "portalId": 62515,
                "appId": 1160452,
                "occurredAt": now_ms(),
                "subscriptionType": "deal.propertyChange",
                "attemptNumber": 0,
                "objectId": deal,
                "propertyName": "dealstage",
                "propertyValue": stage,
                "changeSource": "CRM_UI",
            },
            {
                "eventId": event + 1,
                "subscriptionId": 78,
                "portalId": 62515,
                "appId": 1160452,
                "occurredAt": now_ms(),
                "subscriptionType": "contact.creation",
                "attemptNumber": 0,
                "objectId": 123,
                "changeSource": "CRM_UI",
            },
        ]
    ).encode()


def basic_auth(user: str = PIPEDRIVE_USER, password: str = PIPEDRIVE_PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def pipedrive_deal(
    deal: int = 501,
    stage: int = 2,
    status: str = "open",
    *,
    pipeline: int = 1,
    value: float | int = 0,
    currency: str = "EUR",
    lead_id: str | None = None,
    previous: dict[str, Any] | None = None,
    update_time: str = "2026-12-01T10:15:00Z",
    action: str = "change",
) -> bytes:
    """A webhooks v2 deal notification."""
    custom = {PIPEDRIVE_LEAD_FIELD: {"type": "varchar", "value": lead_id}} if lead_id else {}
    return json.dumps(
        {
            "meta": {
                "action": action,
                "entity": "deal",
                "entity_id": str(deal),
                "id": "8f1c2e5a-1d8b-4c1e-9a7e-3f0b6d2c9e11",
                "company_id": "12882925",
                "user_id": "18487521",
                "version": "2.0",
                "attempt": 1,
                "host": "company.pipedrive.com",
                "timestamp": "2026-12-01T10:15:01.123Z",
                "change_source": "app",
                "type": "general",
                "webhook_id": "99",
            },
            "data": {
                "id": deal,
                "title": "Website lead",
                "pipeline_id": pipeline,
                "stage_id": stage,
                "status": status,
                "value": value,
                "currency": currency,
                "person_id": 3,
                "update_time": update_time,
                "custom_fields": custom,
            },
            "previous": previous if previous is not None else {"stage_id": stage - 1},
        }
    ).encode()


def amocrm_status(
    lead: int = 31337,
    status: int = 142,
    *,
    pipeline: int = 7000001,
    price: str = "99000",
    lead_id: str | None = None,
    last_modified: int | None = None,
) -> bytes:
    """amoCRM's form-encoded "lead status changed" webhook."""
    fields: dict[str, Any] = {
        "leads[status][0][id]": lead,
        "leads[status][0][status_id]": status,
        "leads[status][0][pipeline_id]": pipeline,
        "leads[status][0][old_status_id]": 61000001,
        "leads[status][0][price]": price,
        "leads[status][0][responsible_user_id]": 5550001,
        "leads[status][0][last_modified]": last_modified or int(time.time()),
        "leads[status][0][modified_user_id]": 5550001,
        "leads[status][0][account_id]": 29000001,
    }
    if lead_id:
        fields["leads[status][0][custom_fields][0][id]"] = AMOCRM_LEAD_FIELD
        fields["leads[status][0][custom_fields][0][name]"] = "funnelwatch lead"
        fields["leads[status][0][custom_fields][0][values][0][value]"] = lead_id
    fields["account[subdomain]"] = "example"
    fields["account[id]"] = 29000001
    return urlencode(fields).encode()


def bitrix24_robot(
    deal: int = 759,
    stage: str = "WON",
    *,
    category: str = "0",
    opportunity: str = "1500.00|RUB",
    lead_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    token: str = BITRIX24_TOKEN,
    event_token: str = "55|abcd|3f0c|wf-1",
) -> bytes:
    """The form-encoded call of an application robot placed on a deal stage."""
    fields: dict[str, Any] = {
        "workflow_id": "wf-1",
        "code": "funnelwatch_status",
        "document_id[0]": "crm",
        "document_id[1]": "CCrmDocumentDeal",
        "document_id[2]": f"DEAL_{deal}",
        "document_type[0]": "crm",
        "document_type[1]": "CCrmDocumentDeal",
        "document_type[2]": "DEAL",
        "event_token": event_token,
        "properties[stage_id]": stage,
        "properties[category_id]": category,
        "properties[opportunity]": opportunity,
        "ts": int(time.time()),
        "auth[domain]": "some-domain.bitrix24.com",
        "auth[member_id]": "a223c6b3710f85df22e9377d6c4f7553",
        "auth[application_token]": token,
    }
    for key, value in (("lead_id", lead_id), ("email", email), ("phone", phone)):
        if value is not None:
            fields[f"properties[{key}]"] = value
    return urlencode(fields).encode()


def bitrix24_event(deal: int = 759, token: str = BITRIX24_TOKEN) -> bytes:
    """An outbound ONCRMDEALUPDATE event (the deal id only)."""
    return urlencode(
        {
            "event": "ONCRMDEALUPDATE",
            "event_handler_id": "201",
            "data[FIELDS][ID]": deal,
            "ts": int(time.time()),
            "auth[domain]": "some-domain.bitrix24.com",
            "auth[application_token]": token,
        }
    ).encode()


def delivery(
    body: bytes,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    uri: str = "https://funnel.example.com/ingest/crm/test",
) -> Delivery:
    return Delivery(
        method="POST",
        uri=uri,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query=query or {},
        body=body,
    )
