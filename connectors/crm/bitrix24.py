"""Bitrix24: deal stages from an application's automation rule (robot), form-encoded.

Authenticity: every request Bitrix24 sends to an application carries
``auth[application_token]``, the token Bitrix24 issued to that application; it is
compared in constant time with the configured one. Nothing is signed and there is no
timestamp window.

Formats:

* robot call (a robot registered with ``bizproc.robot.add`` and placed on the stages of
  a deal pipeline): ``document_id[2]=DEAL_<id>``, ``event_token``, ``ts`` and the robot's
  ``properties[…]``, which the user fills with the deal's fields: ``stage_id``
  ({{Stage}}), ``category_id`` (the pipeline), ``opportunity``, ``currency`` and the
  fields the mapping names (lead id, e-mail, phone). The delivery key is the deal, its
  pipeline and stage and the robot's ``event_token`` (``ts`` when there is none);
* outbound events (``event=ONCRMDEALUPDATE`` / ``ONCRMDEALADD``, ``data[FIELDS][ID]``):
  verified, then acknowledged and counted as ``id_only`` — they carry the deal id and
  nothing else, and the details would need a call to Bitrix24's REST API, which
  funnelwatch does not make.
"""

from __future__ import annotations

from typing import Any

from .fields import lookup
from .forms import parse_form
from .mapping import ProviderMapping
from .model import CrmRecord, Delivery, MalformedDelivery, Parsed, decimal_of, text_of, time_of
from .signatures import verify_token

PROVIDER = "bitrix24"
_DEAL_PREFIX = "DEAL_"


def _auth(form: dict[str, Any]) -> str | None:
    auth = form.get("auth")
    return text_of(auth.get("application_token")) if isinstance(auth, dict) else None


def verify(delivery: Delivery, application_token: str) -> None:
    try:
        form = parse_form(delivery.body)
    except MalformedDelivery:
        form = {}
    verify_token(application_token, _auth(form), "auth[application_token]")


def parse(delivery: Delivery, mapping: ProviderMapping) -> Parsed:
    form = parse_form(delivery.body)
    parsed = Parsed()
    if text_of(form.get("event")):
        parsed.ignore("id_only")
        return parsed
    document = form.get("document_id")
    props = form.get("properties")
    deal_ref = text_of(document.get("2")) if isinstance(document, dict) else None
    if deal_ref is None or not isinstance(props, dict):
        raise MalformedDelivery("expected a robot call (document_id[2], properties[…]) or an event")
    deal = deal_ref.removeprefix(_DEAL_PREFIX)
    stage = lookup(props, "stage_id")
    if stage is None:
        raise MalformedDelivery("the robot's properties need stage_id (the deal's {{Stage}})")
    pipeline = lookup(props, "category_id") or ""
    # a business-process money value reads "1500.00|RUB": the amount and its currency
    amount, _, money_currency = (lookup(props, "opportunity") or "").partition("|")
    ts = text_of(form.get("ts"))
    token = text_of(form.get("event_token")) or ts or ""
    parsed.records.append(
        CrmRecord(
            provider=PROVIDER,
            object_id=deal,
            delivery_key=f"deal:{deal}:{pipeline}:{stage}:{token}",
            event_time=time_of(ts, "ts"),
            pipeline=pipeline,
            stage=stage,
            lead_id=lookup(props, mapping.lead_id_field),
            deal_value=decimal_of(amount, "properties[opportunity]"),
            currency=lookup(props, "currency") or text_of(money_currency) or mapping.currency,
            email=lookup(props, mapping.email_field),
            phone=lookup(props, mapping.phone_field),
        )
    )
    return parsed
