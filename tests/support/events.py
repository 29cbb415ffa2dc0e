"""Raw source events as producers send them (JSON bytes of the contracts), and lead ids
placed in a chosen owner partition."""

from __future__ import annotations

import itertools
import json
from typing import Any

from funnelwatch.processors.source.placement import owner_partition
from funnelwatch.streams.simulator.records import iso_ms


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def click(event_id: str, click_id: str, t_ms: int, campaign: str = "cmp-a", *,
          channel: str = "google", ad_group: str = "ag1", device: str = "mobile",
          geo: str = "DE", cost_micros: int = 1_000_000) -> bytes:  # fmt: skip
    return encode({
        "event_type": "ad_click", "event_id": event_id, "event_time": iso_ms(t_ms),
        "schema_version": 1, "click_id": click_id, "campaign_id": campaign,
        "ad_group_id": ad_group, "ad_id": f"{ad_group}-ad", "channel": channel,
        "cost_micros": cost_micros, "device": device, "geo": geo,
    })  # fmt: skip


def form(event_id: str, lead_id: str, t_ms: int, click_id: str | None = None, *,
         utm_campaign: str | None = None, utm_source: str | None = None,
         device: str = "desktop", geo: str = "FR") -> bytes:  # fmt: skip
    return encode({
        "event_type": "form_submission", "event_id": event_id, "event_time": iso_ms(t_ms),
        "schema_version": 1, "lead_id": lead_id, "form_id": "frm-1", "form_type": "contact",
        "click_id": click_id, "utm_source": utm_source, "utm_medium": None,
        "utm_campaign": utm_campaign, "utm_content": None, "utm_term": None,
        "device": device, "geo": geo,
    })  # fmt: skip


def crm(event_id: str, lead_id: str, status: str, t_ms: int, value: int | None = None) -> bytes:
    return encode({
        "event_type": "crm_event", "event_id": event_id, "event_time": iso_ms(t_ms),
        "schema_version": 1, "lead_id": lead_id, "status": status, "deal_value_micros": value,
    })  # fmt: skip


def lead_in(partition: int, partitions: int, tag: str = "lead") -> str:
    """A lead id whose owner partition is ``partition`` (of ``partitions``)."""
    return next(
        lead_id
        for lead_id in (f"{tag}-{i}" for i in itertools.count())
        if owner_partition(lead_id, partitions) == partition
    )
