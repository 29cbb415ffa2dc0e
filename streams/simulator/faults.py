"""Malformed records: one kind per way producers get events wrong.

Invariants:
- each kind breaks exactly one thing in an otherwise valid event, so the validator's
  first problem, hence its reason category (``InvalidEvent.reason``), is ``reason``;
- every malformed record carries a unique ``marker``: it is the record key and appears
  verbatim in the value bytes (as event_id where the kind has one), so tests can find
  it in the dead-letter topic;
- values depend only on the arguments (no clock, no global random state).

Duplicates and out-of-order sends are not built here: they reuse valid records and are
scheduled by the generator (see :mod:`.generator`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .records import SentRecord, TopicKey, encode, iso_ms

TEN_YEARS_MS = 3652 * 86_400_000
#: A click costing a million currency units: far above any plausible max_cost_micros.
ABSURD_COST_MICROS = 1_000_000 * 1_000_000


def _click(marker: str, t: str) -> dict[str, Any]:
    return {
        "event_type": "ad_click",
        "event_id": marker,
        "event_time": t,
        "schema_version": 1,
        "click_id": marker,
        "campaign_id": "cmp-search-brand",
        "ad_group_id": "ag-search-brand-core",
        "ad_id": "ad-search-brand-core-1",
        "channel": "google",
        "cost_micros": 1_250_000,
        "device": "desktop",
        "geo": "US",
    }


def _form(marker: str, t: str) -> dict[str, Any]:
    return {
        "event_type": "form_submission",
        "event_id": marker,
        "event_time": t,
        "schema_version": 1,
        "lead_id": marker,
        "form_id": "frm-site-contact",
        "form_type": "contact",
        "click_id": None,
        "utm_source": None,
        "utm_medium": None,
        "utm_campaign": None,
        "utm_content": None,
        "utm_term": None,
        "device": "mobile",
        "geo": "DE",
    }


def _crm(marker: str, t: str) -> dict[str, Any]:
    return {
        "event_type": "crm_event",
        "event_id": marker,
        "event_time": t,
        "schema_version": 1,
        "lead_id": marker,
        "status": "contacted",
        "deal_value_micros": None,
    }


@dataclass(frozen=True)
class MalformedKind:
    """``build(marker, event_time_ms, future_ms)`` returns the value bytes."""

    name: str
    topic_key: TopicKey
    reason: str
    build: Callable[[str, int, int], bytes]


def _edit(
    template: Callable[[str, str], dict[str, Any]], **changes: Any
) -> Callable[[str, int, int], bytes]:
    """A builder: the template event with fields replaced (a value None removes it)."""

    def build(marker: str, ms: int, _future_ms: int) -> bytes:
        payload = template(marker, iso_ms(ms))
        for name, value in changes.items():
            if value is None:
                payload.pop(name)
            else:
                payload[name] = value
        return encode(payload)

    return build


def _truncated(marker: str, ms: int, _future: int) -> bytes:
    # A producer that died mid-write: the JSON stops inside the object.
    return encode(_click(marker, iso_ms(ms)))[:-40]


def _binary(marker: str, _ms: int, _future: int) -> bytes:
    # Not UTF-8 at all (e.g. a compressed or protobuf payload sent to the JSON topic).
    return b"\x80\xff\xfe\x00" + marker.encode() + b"\x9d\xc3\x28"


def _array(marker: str, ms: int, _future: int) -> bytes:
    return b"[" + encode(_crm(marker, iso_ms(ms))) + b"]"


def _future(marker: str, _ms: int, future_ms: int) -> bytes:
    return encode(_crm(marker, iso_ms(future_ms)))


def _naive_time(marker: str, ms: int, _future: int) -> bytes:
    payload = _crm(marker, iso_ms(ms)[:-1])  # no zone: the time is ambiguous
    return encode(payload)


MALFORMED_KINDS: tuple[MalformedKind, ...] = (
    MalformedKind("truncated_json", "clicks", "malformed_json", _truncated),
    MalformedKind("binary_garbage", "forms", "malformed_json", _binary),
    MalformedKind("json_array", "crm", "not_an_object", _array),
    MalformedKind(
        "unknown_event_type", "clicks", "unknown_event_type", _edit(_click, event_type="page_view")
    ),
    MalformedKind(
        "missing_event_type", "forms", "unknown_event_type", _edit(_form, event_type=None)
    ),
    MalformedKind("negative_cost", "clicks", "schema", _edit(_click, cost_micros=-1_250_000)),
    MalformedKind("missing_event_id", "forms", "schema", _edit(_form, event_id=None)),
    MalformedKind("wrong_type", "clicks", "schema", _edit(_click, cost_micros="1250000")),
    MalformedKind("unknown_status", "crm", "schema", _edit(_crm, status="callback_scheduled")),
    MalformedKind("wrong_schema_version", "forms", "schema", _edit(_form, schema_version=2)),
    MalformedKind("naive_event_time", "crm", "schema", _naive_time),
    MalformedKind("future_event_time", "crm", "future_event_time", _future),
    MalformedKind(
        "absurd_cost", "clicks", "absurd_cost", _edit(_click, cost_micros=ABSURD_COST_MICROS)
    ),
)
MALFORMED_BY_NAME = {k.name: k for k in MALFORMED_KINDS}


def malformed_record(kind: MalformedKind, marker: str, event_ms: int, future_ms: int) -> SentRecord:
    """A malformed record of ``kind``; ``future_ms`` is the time used by the kind that is
    "far in the future" (the generator passes its end of time plus ten years)."""
    return SentRecord(
        topic_key=kind.topic_key,
        key=marker.encode(),
        value=kind.build(marker, event_ms, future_ms),
        event_id=marker,
        valid=False,
        reason=kind.reason,
        duplicate=False,
    )
