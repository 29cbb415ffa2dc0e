"""amoCRM / Kommo: lead status changes from the account's webhook (Settings →
Integrations → Web hooks), form-encoded: ``leads[status][0][id]``, ``[status_id]``,
``[pipeline_id]``, ``[old_status_id]``, ``[price]``, ``[last_modified]``,
``[custom_fields][0][id]`` / ``[values][0][value]``; new leads under ``leads[add]``.

Authenticity: amoCRM/Kommo sign nothing in these webhooks and send no secret of their
own. The only proof available is a secret the user puts in the webhook URL
(``?token=…``), compared here in constant time — weaker than a signature (the URL is
visible to whoever administers the CRM account and to proxies logging URLs); use HTTPS.

The delivery key is the lead with its pipeline, status and ``last_modified`` (amoCRM's
own time of the change). Won (142) and lost (143) are status ids shared by every
pipeline: map them under ``"*"``. The webhook carries the lead's custom fields only (not
its contacts'): linking by e-mail/phone needs those copied into lead fields.
"""

from __future__ import annotations

from typing import Any

from .forms import items, parse_form
from .mapping import ProviderMapping
from .model import CrmRecord, Delivery, MalformedDelivery, Parsed, decimal_of, text_of, time_of
from .signatures import verify_token

PROVIDER = "amocrm"
_SECTIONS = ("status", "add")


def verify(delivery: Delivery, token: str) -> None:
    verify_token(token, delivery.query.get("token"), "token query parameter (?token=…)")


def _custom_field(lead: dict[str, Any], field_id: str | None) -> str | None:
    if not field_id:
        return None
    for custom in items(lead.get("custom_fields")):
        if isinstance(custom, dict) and field_id in (
            text_of(custom.get("id")),
            text_of(custom.get("code")),
            text_of(custom.get("name")),
        ):
            for value in items(custom.get("values")):
                found = text_of(value.get("value") if isinstance(value, dict) else value)
                if found:
                    return found
    return None


def parse(delivery: Delivery, mapping: ProviderMapping) -> Parsed:
    form = parse_form(delivery.body)
    leads = form.get("leads")
    parsed = Parsed()
    if not isinstance(leads, dict):
        parsed.ignore("not_a_lead_status")
        return parsed
    for section, entries in leads.items():
        if section not in _SECTIONS:
            parsed.ignore("not_a_lead_status")
            continue
        for lead in items(entries):
            if not isinstance(lead, dict):
                raise MalformedDelivery(f"leads[{section}] items must be field groups")
            parsed.records.append(_record(lead, mapping))
    return parsed


def _record(lead: dict[str, Any], mapping: ProviderMapping) -> CrmRecord:
    lead_no, status = text_of(lead.get("id")), text_of(lead.get("status_id"))
    if lead_no is None or status is None:
        raise MalformedDelivery("a lead needs its id and status_id")
    pipeline = text_of(lead.get("pipeline_id")) or ""
    modified = text_of(lead.get("last_modified")) or text_of(lead.get("date_create"))
    return CrmRecord(
        provider=PROVIDER,
        object_id=lead_no,
        delivery_key=f"lead:{lead_no}:{pipeline}:{status}:{modified or ''}",
        event_time=time_of(modified, "last_modified"),
        pipeline=pipeline,
        stage=status,
        lead_id=_custom_field(lead, mapping.lead_id_field),
        deal_value=decimal_of(text_of(lead.get("price")), "price"),
        currency=mapping.currency,
        email=_custom_field(lead, mapping.email_field),
        phone=_custom_field(lead, mapping.phone_field),
    )
