"""HTTP ingest: webhooks and landing pages post events, the worker produces them to Kafka.

Invariants:
- a request is all or nothing: every event is validated (the same contracts and limits
  the pipeline applies) before any is produced; one invalid event rejects the request
  with 400 and a list of problems (index, field, message), and nothing is produced;
- events go to the source topic of their endpoint with the key the simulator uses
  (click_id for clicks, lead_id for forms and CRM events), as the JSON they came in;
- a raw ``email`` or ``phone`` is never produced, stored or logged, nor echoed in a
  problem: a form's are replaced by their salted ``contact_hashes`` before anything
  else looks at the form; without a configured salt, or on another event type, they
  reject the request (400);
- 202 only after Kafka acknowledged every produced event (acks=all on the worker's
  producer); on a Kafka error the answer is 503 and the client retries;
- an event id acknowledged recently (a bounded LRU of ``ingest_dedup_size`` ids) is
  not produced again, nor an id repeated inside one request. That saves work only:
  the pipeline's dedup by event_id downstream is the guarantee (concurrent retries,
  another worker or a restart can still produce an event twice, harmlessly).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from funnelwatch.connectors.contacts import ContactHashing
from funnelwatch.schemas.contracts import InvalidEvent, Limits, validate_mapping

from ..source.rawcontacts import RAW_CONTACT_FIELDS
from .access import Access, Denied, Role

#: endpoint -> (event type it accepts, field that keys its records)
ENDPOINTS: Mapping[str, tuple[str, str]] = {
    "clicks": ("ad_click", "click_id"),
    "forms": ("form_submission", "lead_id"),
    "crm": ("crm_event", "lead_id"),
    "spend": ("ad_spend", "campaign_id"),
}

#: the field a problem category of ``validate_mapping`` is about
_CATEGORY_FIELD = {
    "unknown_event_type": "event_type",
    "future_event_time": "event_time",
    "ancient_event_time": "event_time",
    "absurd_cost": "cost_micros",
    "not_an_object": "(root)",
}


@dataclass(frozen=True)
class Rejection(Exception):
    """An ingest request refused with ``status``; ``problems`` for validation errors."""

    status: int
    message: str
    problems: tuple[dict[str, Any], ...] = ()

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.problems:
            out["problems"] = list(self.problems)
        return out


def check_token(access: Access, authorization: str | None) -> str:
    """The principal of a request with an ingest token (see :mod:`.access`), or the
    Rejection it gets: 503 while no ingest token is configured, 401/403 otherwise."""
    if not access.configured(Role.INGEST):
        raise Rejection(
            503, "ingest is disabled: set FUNNELWATCH_INGEST_TOKEN on the worker to enable it"
        )
    try:
        return access.require(authorization, Role.INGEST)
    except Denied as denied:
        raise Rejection(denied.status, denied.message) from None


def _problem(index: int, text: str) -> dict[str, Any]:
    category, _, rest = text.partition(": ")
    if category == "schema":
        field, sep, message = rest.partition(": ")
        if not sep:
            field, message = "(root)", rest
        return {"index": index, "field": field, "message": message}
    return {"index": index, "field": _CATEGORY_FIELD.get(category, "(root)"), "message": text}


def parse_events(
    body: bytes,
    endpoint: str,
    limits: Limits,
    now: datetime | None = None,
    max_events: int | None = None,
    contacts: ContactHashing | None = None,
) -> list[dict[str, Any]]:
    """The events of a request body (one JSON object or an array of them), all valid,
    or a Rejection listing every problem of every event. A form's raw ``email`` and
    ``phone`` are replaced by their ``contact_hashes`` (see :func:`_hash_contacts`)."""
    event_type, _ = ENDPOINTS[endpoint]
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejection(400, f"invalid JSON: {exc}") from None
    items: Sequence[Any] = data if isinstance(data, list) else [data]
    if not items:
        raise Rejection(400, "empty batch: send one event object or a non-empty array")
    if max_events is not None and len(items) > max_events:
        raise Rejection(
            413, f"{len(items)} events in one request exceed the limit of {max_events}: "
            "nothing was accepted; split the batch",
        )  # fmt: skip
    problems: list[dict[str, Any]] = []
    items = [
        _hash_contacts(item, index, event_type, contacts, problems)
        if isinstance(item, dict)
        else item
        for index, item in enumerate(items)
    ]
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("event_type") != event_type:
            problems.append(
                {
                    "index": index,
                    "field": "event_type",
                    "message": f"this endpoint takes {event_type!r} events, "
                    f"got {item.get('event_type')!r}",
                }
            )
            continue
        try:
            validate_mapping(item, limits, now)
        except InvalidEvent as exc:
            problems.extend(_problem(index, p) for p in exc.problems)
    if problems:
        raise Rejection(400, f"{len(problems)} problem(s): nothing was accepted", tuple(problems))
    return [dict(item) for item in items]


def _hash_contacts(
    item: dict[str, Any],
    index: int,
    event_type: str,
    contacts: ContactHashing | None,
    problems: list[dict[str, Any]],
) -> dict[str, Any]:
    """``item`` without its raw ``email``/``phone``, their hashes added to its
    ``contact_hashes``; what is wrong with them goes to ``problems``, never their values.

    A value that is no usable address or number (a visitor's typo) gives no hash, and
    the form is kept: losing the lead for it would be worse than not linking it.
    """
    given = [k for k in RAW_CONTACT_FIELDS if k in item]
    if not given:
        return item
    out = {k: v for k, v in item.items() if k not in RAW_CONTACT_FIELDS}
    values: dict[str, str] = {}
    for name in given:
        value = item[name]
        if value is None:
            continue
        if event_type != "form_submission":
            problems.append({"index": index, "field": name,
                             "message": "contact fields are taken on forms only"})  # fmt: skip
        elif not isinstance(value, str):
            problems.append({"index": index, "field": name, "message": "must be a string"})
        else:
            values[name] = value
    if not values:
        return out
    if contacts is None:
        problems.append({"index": index, "field": "/".join(values), "message":
                         "contact hashing is off (FUNNELWATCH_CONTACT_HASH_SALT is not set on "
                         "the worker): send the form without email and phone"})  # fmt: skip
        return out
    hashes = contacts.hashes(values.get("email"), values.get("phone"))
    carried = out.get("contact_hashes")
    if carried is None:
        carried = []
    if hashes and isinstance(carried, list):  # else validation names the wrong type
        out["contact_hashes"] = [*carried, *(h for h in hashes if h not in carried)]
    return out


class RecentIds:
    """The last ``size`` acknowledged event ids (LRU)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        if event_id in self._ids:
            self._ids.move_to_end(str(event_id))
            return True
        return False

    def add(self, event_id: str) -> None:
        if self.size <= 0:
            return
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def __len__(self) -> int:
        return len(self._ids)


def to_produce(
    events: Sequence[dict[str, Any]], endpoint: str, recent: RecentIds
) -> list[tuple[str, bytes, bytes]]:
    """(event_id, key, value) of the events not acknowledged before nor repeated."""
    _, key_field = ENDPOINTS[endpoint]
    seen: set[str] = set()
    out = []
    for event in events:
        event_id = str(event["event_id"])
        if event_id in seen or event_id in recent:
            continue
        seen.add(event_id)
        value = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        out.append((event_id, str(event[key_field]).encode(), value))
    return out


async def read_bounded(request: Any, limit: int) -> bytes:
    """The request's body, or a 413 Rejection once it exceeds ``limit`` bytes (before
    reading it, when Content-Length says so already)."""
    length = request.headers.get("Content-Length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise Rejection(413, f"body of {length} bytes exceeds the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.content.iter_chunked(min(limit + 1, 65536)):
        body += chunk
        if len(body) > limit:
            raise Rejection(413, f"body exceeds the limit of {limit} bytes")
    return bytes(body)
