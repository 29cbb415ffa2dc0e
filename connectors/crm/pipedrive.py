"""Pipedrive: deal changes from a general webhook, version 2.0 (``meta`` / ``data`` /
``previous``).

Authenticity: Pipedrive signs nothing; a webhook can carry HTTP basic auth
(``http_auth_user`` / ``http_auth_password`` when it is created), which is checked here.

Format: ``meta.entity`` is ``deal`` and ``meta.action`` ``create`` or ``change``; ``data``
holds the deal (``id``, ``pipeline_id``, ``stage_id``, ``status`` open/won/lost, ``value``,
``currency``, ``update_time``, ``custom_fields``), ``previous`` only the fields that
changed. A change that moves neither the stage, the pipeline nor the status (a rename, a
note) is acknowledged and counted, not kept; so is any other entity or action. The
delivery key is the deal with its pipeline, stage, status and ``update_time``: Pipedrive's
own record of the change, the same in every retry.
"""

from __future__ import annotations

import json
from typing import Any

from .fields import lookup
from .mapping import ProviderMapping
from .model import CrmRecord, Delivery, MalformedDelivery, Parsed, decimal_of, text_of, time_of
from .signatures import verify_basic_auth

PROVIDER = "pipedrive"
_STATUS_FIELDS = ("stage_id", "pipeline_id", "status")


def verify(delivery: Delivery, user: str, password: str) -> None:
    verify_basic_auth(user, password, delivery.header("Authorization"))


def _custom(data: dict[str, Any], name: str | None) -> str | None:
    # v2 nests custom fields ({"<key>": {"type": .., "value": ..}}); v1 put them on the deal
    custom = data.get("custom_fields")
    found = lookup(custom, name) if isinstance(custom, dict) else None
    return found or lookup(data, name)


def parse(delivery: Delivery, mapping: ProviderMapping) -> Parsed:
    try:
        body = json.loads(delivery.body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedDelivery(f"invalid JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
        raise MalformedDelivery("expected a Pipedrive webhook v2 object with meta and data")
    meta, data, previous = body["meta"], body.get("data"), body.get("previous")
    parsed = Parsed()
    if meta.get("entity") != "deal" or meta.get("action") not in ("create", "change"):
        parsed.ignore("not_a_deal_change")
        return parsed
    if not isinstance(data, dict):
        raise MalformedDelivery("a deal webhook needs its data object")
    if (
        meta.get("action") == "change"
        and isinstance(previous, dict)
        and not any(f in previous for f in _STATUS_FIELDS)
    ):
        parsed.ignore("not_a_stage_change")
        return parsed
    deal = text_of(data.get("id")) or text_of(meta.get("entity_id"))
    stage = text_of(data.get("stage_id"))
    if deal is None or stage is None:
        raise MalformedDelivery("a deal webhook needs data.id and data.stage_id")
    pipeline = text_of(data.get("pipeline_id")) or ""
    status = text_of(data.get("status")) or ""
    updated = data.get("update_time") or meta.get("timestamp")
    parsed.records.append(
        CrmRecord(
            provider=PROVIDER,
            object_id=deal,
            delivery_key=f"deal:{deal}:{pipeline}:{stage}:{status}:{text_of(updated) or ''}",
            event_time=time_of(updated, "data.update_time"),
            pipeline=pipeline,
            stage=stage,
            object_status=status or None,
            lead_id=_custom(data, mapping.lead_id_field),
            deal_value=decimal_of(data.get("value"), "data.value"),
            currency=text_of(data.get("currency")) or mapping.currency,
            email=_custom(data, mapping.email_field),
            phone=_custom(data, mapping.phone_field),
        )
    )
    return parsed
