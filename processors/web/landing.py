"""A landing reported by the browser snippet (``/t.js``), turned into an ``ad_click``.

Invariants:
- a site key is public, so the body may name only what a visitor's URL carries: the
  site key, the platform's click id and its parameter name, and the five utm tags
  (:data:`BODY_FIELDS`); anything else, a non-string value or an oversized one is a 400
  and nothing is produced. Money, times and ids are never the browser's: the cost is
  0 (spend comes from the ad platforms), the event time is the worker's receive time
  (a visitor's clock can be off by hours), and the event id is derived from the click
  id, so a reload, a retry or a second tab reports the same event;
- the event is then checked by the same contracts as any ingested click
  (:func:`.ingest.parse_events`), so a landing never enters Kafka in a shape the
  pipeline would dead-letter.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from funnelwatch.schemas.contracts import Limits
from funnelwatch.schemas.events import SCHEMA_VERSION

from ..attribution.rules import UNATTRIBUTED, UNKNOWN
from .ingest import Rejection, parse_events

#: URL parameter of each ad platform's click id -> the channel its clicks count under
#: (the channel names the simulator and the boards use)
CLICK_ID_CHANNELS: Mapping[str, str] = {
    "gclid": "google",
    "gbraid": "google",
    "wbraid": "google",
    "yclid": "yandex",
    "fbclid": "meta",
    "msclkid": "bing",
}
#: the snippet's own id of a landing with utm tags but no platform click id
SNIPPET_CLICK_ID_TYPE = "fw"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
BODY_FIELDS = ("site_key", "click_id", "click_id_type", *UTM_FIELDS)
#: a landing body is a few hundred bytes; this bound is checked before parsing
MAX_BODY_BYTES = 4096
MAX_VALUE_CHARS = 200
_CLICK_ID = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: what platforms send


@dataclass(frozen=True)
class Landing:
    """What the snippet reports of one landing."""

    site_key: str
    click_id: str
    click_id_type: str
    utm: Mapping[str, str]


def _bad(field: str, message: str) -> Rejection:
    return Rejection(
        400,
        f"invalid landing: {field}: {message}",
        ({"index": 0, "field": field, "message": message},),
    )


def decode_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a /collect body, or the Rejection it gets (413, 400)."""
    if len(body) > MAX_BODY_BYTES:
        raise Rejection(413, f"body exceeds the limit of {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Rejection(400, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _bad("(root)", f"expected a JSON object, got {type(data).__name__}")
    return data


def site_key_of(data: Mapping[str, Any]) -> str:
    """The site key a decoded body names (checked against the origin before the rest)."""
    key = data.get("site_key")
    if not isinstance(key, str) or not key.strip():
        raise _bad("site_key", "required: the data-site-key of the script tag")
    return key


def parse_landing(data: Mapping[str, Any]) -> Landing:
    """The landing a decoded /collect body reports, or a 400 naming the first problem."""
    unknown = sorted(set(data) - set(BODY_FIELDS))
    if unknown:
        raise _bad(unknown[0], f"not a field the snippet sends (allowed: {', '.join(BODY_FIELDS)})")
    for name, value in data.items():
        if not isinstance(value, str):
            raise _bad(name, f"expected a string, got {type(value).__name__}")
        if len(value) > MAX_VALUE_CHARS:
            raise _bad(name, f"longer than {MAX_VALUE_CHARS} characters")
    for name in ("site_key", "click_id", "click_id_type"):
        if not data.get(name, "").strip():
            raise _bad(name, "required")
    click_id, click_id_type = data["click_id"].strip(), data["click_id_type"]
    if click_id_type not in CLICK_ID_CHANNELS and click_id_type != SNIPPET_CLICK_ID_TYPE:
        allowed = ", ".join([*CLICK_ID_CHANNELS, SNIPPET_CLICK_ID_TYPE])
        raise _bad("click_id_type", f"must be one of {allowed}; got {click_id_type!r}")
    if not _CLICK_ID.match(click_id):
        raise _bad("click_id", "must be printable ASCII without spaces")
    utm = {name: data[name].strip() for name in UTM_FIELDS if data.get(name, "").strip()}
    return Landing(data["site_key"], click_id, click_id_type, utm)


def landing_event_id(click_id: str) -> str:
    """The event id of the landing of ``click_id``: the same for every report of it."""
    return "landing-" + hashlib.sha256(click_id.encode()).hexdigest()[:40]


def device_of(user_agent: str | None) -> str:
    """desktop / mobile / tablet from a User-Agent header, as the simulator's devices."""
    if not user_agent:
        return UNKNOWN
    if re.search(r"iPad|Tablet|PlayBook|Silk", user_agent) or (
        "Android" in user_agent and "Mobi" not in user_agent
    ):
        return "tablet"
    if re.search(r"Mobi|iPhone|iPod|Android", user_agent):
        return "mobile"
    return "desktop"


def channel_of(landing: Landing) -> str:
    """The platform the click id names, else the utm_source, else unknown."""
    channel = CLICK_ID_CHANNELS.get(landing.click_id_type)
    return channel or landing.utm.get("utm_source", "").lower() or UNKNOWN


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def landing_event(landing: Landing, received: datetime, user_agent: str | None) -> dict[str, Any]:
    """The ``ad_click`` of a landing: campaign from utm_campaign, ad group from
    utm_content (as the simulator tags its ads), cost 0."""
    return {
        "event_type": "ad_click",
        "event_id": landing_event_id(landing.click_id),
        "event_time": _utc_text(received),
        "schema_version": SCHEMA_VERSION,
        "click_id": landing.click_id,
        "campaign_id": landing.utm.get("utm_campaign", UNATTRIBUTED),
        "ad_group_id": landing.utm.get("utm_content", UNKNOWN),
        "ad_id": UNKNOWN,
        "channel": channel_of(landing),
        "cost_micros": 0,
        "device": device_of(user_agent),
        "geo": UNKNOWN,
    }


def checked_event(
    landing: Landing, received: datetime, user_agent: str | None, limits: Limits
) -> dict[str, Any]:
    """The landing's ad_click, validated as ingest validates clicks (400 if not valid:
    the body checks above make that unreachable but for a misconfigured worker, whose
    limits refuse its own clock's times)."""
    event = landing_event(landing, received, user_agent)
    (checked,) = parse_events(json.dumps(event).encode(), "clicks", limits, received)
    return checked
