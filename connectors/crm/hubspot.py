"""HubSpot: deal stage changes, from a workflow's "Send a webhook" action (the record's
properties, signed) or from an app's webhook subscriptions (ids only).

Authenticity: the v3 request signature (:func:`~.signatures.verify_hubspot_v3`) with the
client secret of the app — for a workflow action, the app whose id the action's "request
signature" names.

Formats:

* workflow action (a JSON object): the deal's properties, either as chosen in the
  action's custom request body (key = property name, e.g. ``hs_object_id``, ``pipeline``,
  ``dealstage``, ``amount``, ``deal_currency_code``, ``hs_lastmodifieddate`` and the
  fields the mapping names) or the "all properties" form (``{"objectId": .., "properties":
  {"dealstage": {"value": ..}, ..}}``). The delivery key is deal + pipeline + stage: a
  deal counts once per stage it enters, however often the action is retried;
* webhook subscriptions (a JSON array of events): ``deal.propertyChange`` /
  ``object.propertyChange`` (deals, ``objectTypeId`` 0-3) of ``dealstage``. They carry the
  deal id and the new stage only — no pipeline, amount or contact — so their records map
  through the ``"*"`` pipeline and cannot link to a lead. Their delivery key is
  HubSpot's ``eventId``. Other events are acknowledged and counted, not kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .fields import lookup
from .mapping import ProviderMapping
from .model import CrmRecord, Delivery, MalformedDelivery, Parsed, decimal_of, text_of, time_of
from .signatures import verify_hubspot_v3

PROVIDER = "hubspot"
SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
_STAGE = "dealstage"
_DEAL_TYPE_ID = "0-3"


def verify(delivery: Delivery, client_secret: str) -> None:
    verify_hubspot_v3(
        client_secret,
        delivery.method,
        delivery.uri,
        delivery.body,
        delivery.header(SIGNATURE_HEADER),
        delivery.header(TIMESTAMP_HEADER),
    )


def parse(delivery: Delivery, mapping: ProviderMapping) -> Parsed:
    try:
        data = json.loads(delivery.body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedDelivery(f"invalid JSON: {exc}") from None
    parsed = Parsed()
    if isinstance(data, list):
        for item in data:
            _subscription_event(item, mapping, parsed)
    elif isinstance(data, dict):
        parsed.records.append(_workflow_record(data, mapping))
    else:
        raise MalformedDelivery("expected a JSON object (workflow) or array (subscriptions)")
    return parsed


def _flat_properties(data: dict[str, Any]) -> dict[str, Any]:
    props = data.get("properties")
    if isinstance(props, dict):
        # the "all properties" form: {"name": {"value": ..}} next to objectId
        flat = {k: v.get("value") if isinstance(v, dict) else v for k, v in props.items()}
        for key in ("objectId", "dealId"):
            if key in data and "hs_object_id" not in flat:
                flat["hs_object_id"] = data[key]
        return flat
    return data


def _workflow_record(data: dict[str, Any], mapping: ProviderMapping) -> CrmRecord:
    props = _flat_properties(data)
    deal = lookup(props, "hs_object_id") or lookup(props, "objectId") or lookup(props, "dealId")
    stage = lookup(props, _STAGE)
    if deal is None or stage is None:
        raise MalformedDelivery(
            "a workflow webhook needs the deal's hs_object_id and dealstage properties"
        )
    pipeline = lookup(props, "pipeline") or ""
    modified = props.get("hs_lastmodifieddate")
    event_time = (
        time_of(text_of(modified), "hs_lastmodifieddate", unit="ms")
        if text_of(modified)
        else datetime.now(UTC)
    )
    return CrmRecord(
        provider=PROVIDER,
        object_id=deal,
        delivery_key=f"deal:{deal}:{pipeline}:{stage}",
        event_time=event_time,
        pipeline=pipeline,
        stage=stage,
        lead_id=lookup(props, mapping.lead_id_field),
        deal_value=decimal_of(lookup(props, "amount"), "amount"),
        currency=lookup(props, "deal_currency_code") or mapping.currency,
        email=lookup(props, mapping.email_field),
        phone=lookup(props, mapping.phone_field),
    )


def _subscription_event(item: Any, mapping: ProviderMapping, parsed: Parsed) -> None:
    if not isinstance(item, dict):
        raise MalformedDelivery("a subscription batch holds JSON objects only")
    kind = item.get("subscriptionType")
    is_deal = kind == "deal.propertyChange" or (
        kind == "object.propertyChange" and item.get("objectTypeId") == _DEAL_TYPE_ID
    )
    if not is_deal or item.get("propertyName") != _STAGE:
        parsed.ignore("not_a_stage_change")
        return
    event, deal, stage = (text_of(item.get(k)) for k in ("eventId", "objectId", "propertyValue"))
    if event is None or deal is None or stage is None:
        raise MalformedDelivery("a dealstage event needs eventId, objectId and propertyValue")
    parsed.records.append(
        CrmRecord(
            provider=PROVIDER,
            object_id=deal,
            delivery_key=f"event:{event}",
            event_time=time_of(item.get("occurredAt"), "occurredAt", unit="ms"),
            pipeline="",
            stage=stage,
            currency=mapping.currency,
        )
    )
