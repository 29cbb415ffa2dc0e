"""CRM records -> crm_event contracts, and the lead id of a record that links to none.

Invariants:

* a record becomes a crm_event only when the mapping knows its stage; the event id is the
  record's (deterministic, :func:`~.model.event_id`), so every delivery of one change is
  one event;
* ``won`` carries ``deal_value_micros`` (integer micros, null when the CRM sent no value)
  and, when known, the currency as the additional wire field ``deal_currency`` (ISO 4217
  as the CRM wrote it; the v1 contract has no currency field yet and ignores it);
* a record that links to no lead is still produced, under the lead id
  ``crm-unlinked:<provider>:<CRM object id>``: no form ever carries it, so the pipeline
  counts the event as unattributed (as it counts a CRM event whose form it never saw),
  and its revenue is not lost.
"""

from __future__ import annotations

from typing import Any

from funnelwatch.connectors.contacts import ContactHashing
from funnelwatch.schemas.events import SCHEMA_VERSION

from .model import CrmRecord, to_micros

UNLINKED_PREFIX = "crm-unlinked"


def unlinked_lead_id(record: CrmRecord) -> str:
    return f"{UNLINKED_PREFIX}:{record.provider}:{record.object_id}"[:200]


def crm_event(record: CrmRecord, status: str, lead_id: str) -> dict[str, Any]:
    """The wire form of the crm_event for ``record`` reaching ``status``."""
    event: dict[str, Any] = {
        "event_type": "crm_event",
        "event_id": record.event_id,
        "event_time": record.normalised()["event_time"],
        "schema_version": SCHEMA_VERSION,
        "lead_id": lead_id,
        "status": status,
    }
    if status == "won":
        value = record.deal_value
        event["deal_value_micros"] = None if value is None else to_micros(value)
        if record.currency:
            event["deal_currency"] = record.currency.upper()
    return event


def record_hashes(record: CrmRecord, hashing: ContactHashing | None) -> tuple[str, ...]:
    """The salted contact hashes of a record's e-mail and phone (the very hashes a form's
    contact gets), or none while contact hashing is not configured."""
    if hashing is None or not (record.email or record.phone):
        return ()
    found: tuple[str, ...] = hashing.hashes(email=record.email, phone=record.phone)
    return found
