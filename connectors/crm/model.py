"""The provider-independent CRM record every connector parses a webhook into.

Invariants:

* a record's ``delivery_key`` is built only from what the provider itself sends about the
  change (its event id, or the object id with the new stage and the provider's own
  modification time), never from the time of receipt: the same change delivered twice
  gives the same key, hence the same :func:`event_id`, and the pipeline's dedup by
  event_id makes the second delivery change nothing;
* ``email`` and ``phone`` are raw contact values held in memory only, for hashing: they are
  left out of ``repr`` and of :meth:`CrmRecord.normalised` (the stored and logged form),
  which carries their salted hashes instead;
* money is a :class:`~decimal.Decimal` as the provider wrote it, turned into integer micros
  exactly (:func:`to_micros`), never through a float.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

#: the longest event id the crm_event contract takes
_MAX_EVENT_ID = 200


class MalformedDelivery(ValueError):
    """A verified delivery that is not in the provider's documented format (400)."""


@dataclass(frozen=True)
class CrmRecord:
    """One status change of one CRM object (a deal or lead), as the provider told it."""

    provider: str
    #: the CRM's own id of the deal or lead
    object_id: str
    #: the provider's identity of this change (see the module invariants)
    delivery_key: str
    event_time: datetime
    #: the provider's pipeline id ("" when its webhook names none)
    pipeline: str
    #: the provider's stage or status id, as sent
    stage: str
    #: the object's own status where the provider has one besides the stage (Pipedrive's
    #: open/won/lost); the mapping's ``statuses`` are consulted for it first
    object_status: str | None = None
    #: the funnelwatch lead id carried in the CRM (hidden form field / custom property)
    lead_id: str | None = None
    deal_value: Decimal | None = None
    currency: str | None = None
    email: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)

    @property
    def event_id(self) -> str:
        return event_id(self.provider, self.delivery_key)

    def normalised(self, contact_hashes: tuple[str, ...] = ()) -> dict[str, Any]:
        """The record without raw contact values: what is stored, logged and replayed."""
        return {
            "provider": self.provider,
            "object_id": self.object_id,
            "event_id": self.event_id,
            "event_time": self.event_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "pipeline": self.pipeline,
            "stage": self.stage,
            "object_status": self.object_status,
            "lead_id": self.lead_id,
            "deal_value": None if self.deal_value is None else str(self.deal_value),
            "currency": self.currency,
            "contact_hashes": list(contact_hashes),
        }


def event_id(provider: str, delivery_key: str) -> str:
    """The crm_event id of a provider's change: readable while it fits the contract,
    else the provider and a SHA-256 of the key."""
    readable = f"crm:{provider}:{delivery_key}"
    if len(readable) <= _MAX_EVENT_ID:
        return readable
    return f"crm:{provider}:sha256:{hashlib.sha256(delivery_key.encode()).hexdigest()}"


def decimal_of(value: Any, what: str) -> Decimal | None:
    """A money amount as the provider sent it (number or numeric string), None if empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MalformedDelivery(f"{what} is not a number: {value!r}")
    try:
        # a JSON float goes through its shortest repr (1999.99, not 1999.990000000000009…)
        text = value.strip().replace(",", ".") if isinstance(value, str) else repr(value)
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise MalformedDelivery(f"{what} is not a number: {str(value)[:40]!r}") from None
    if not amount.is_finite() or amount < 0:
        raise MalformedDelivery(f"{what} must be a finite amount >= 0: {str(value)[:40]!r}")
    return amount


def to_micros(amount: Decimal) -> int:
    """Integer micros of ``amount`` (sub-micro fractions are truncated)."""
    return int(amount.scaleb(6).to_integral_value(rounding="ROUND_DOWN"))


def time_of(value: Any, what: str, unit: str = "s") -> datetime:
    """A provider timestamp: epoch seconds or milliseconds (``unit``) or ISO 8601."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if unit == "ms" else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise MalformedDelivery(f"{what} is not a plausible timestamp: {value!r}") from None
    if isinstance(value, str) and value:
        text = value.strip().replace(" ", "T", 1)
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise MalformedDelivery(f"{what} is not a timestamp: {value[:40]!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise MalformedDelivery(f"{what} is missing")


def text_of(value: Any) -> str | None:
    """A scalar field as text; None for missing, empty or structured values."""
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class Delivery:
    """One webhook request as the connector sees it (the web view builds it)."""

    method: str
    #: the URL the provider called: the public base URL, the path and the query as sent
    uri: str
    #: header name in lower case -> value
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Parsed:
    """What a delivery holds: status changes, and how many items were not status changes
    (by reason, e.g. ``not_a_stage_change``, ``id_only``): acknowledged, counted, not kept."""

    records: list[CrmRecord] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)

    def ignore(self, reason: str) -> None:
        self.ignored[reason] = self.ignored.get(reason, 0) + 1
